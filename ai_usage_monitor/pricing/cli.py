"""``ai-usage-monitor pricing show|list``: which price a model gets, and the built-in catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing.catalogue import DASHSCOPE_CATALOGUE
from ai_usage_monitor.pricing.models import EPOCH, UNITS, PriceEntry
from ai_usage_monitor.pricing.overrides import PricingFileError
from ai_usage_monitor.pricing.pricer import Pricer

__all__ = ["pricing_app"]

pricing_app = typer.Typer(help="Model prices: the entry a model is priced with, and the built-in catalogue.")

_UNIT_NAMES = {size: name for name, size in UNITS.items()}


def _console() -> Console:
    width = Console().width
    return Console(width=max(width, 110))  # tables stay readable when piped (rich assumes 80 columns)


def _money(value: float | None) -> str:
    if value is None:
        return "—"
    return format(Decimal(repr(value)).normalize(), "f")


def _token_range(entry: PriceEntry, index: int) -> str:
    if len(entry.tiers) == 1:
        return "all"
    low = entry.tiers[index - 1].max_input_tokens if index else None
    high = entry.tiers[index].max_input_tokens
    if high is None:
        return f"> {low:,}"
    return f"≤ {high:,}" if low is None else f"{low + 1:,}–{high:,}"


def _date(entry: PriceEntry) -> str:
    return "undated" if entry.effective_from == EPOCH else entry.effective_from.isoformat()


def _add_tier_rows(table: Table, entries: Iterable[PriceEntry], *, with_model: bool) -> None:
    for entry in entries:
        for i, tier in enumerate(entry.tiers):
            cells = [entry.model, _date(entry)] if with_model else [f"#{i}"]
            table.add_row(
                *cells,
                _token_range(entry, i),
                _money(tier.input),
                _money(tier.cached_price),
                _money(tier.output),
                _money(tier.thinking_output),
            )


def _price_columns(table: Table) -> None:
    table.add_column("input tokens")
    for name in ("input", "cached input", "output", "thinking output"):
        table.add_column(name, justify="right")


@pricing_app.command("show")
def show(
    model: Annotated[
        str, typer.Argument(help="Model name as sent to the provider, e.g. qwen-plus-2025-07-14.")
    ],
    provider: Annotated[str, typer.Option(help="Provider: dashscope, openai, or any genai-prices knows.")] = (
        "dashscope"
    ),
    at: Annotated[
        str | None, typer.Option(help="Price in force at this date (YYYY-MM-DD, UTC) instead of now.")
    ] = None,
) -> None:
    """Print the price entry a model is billed with: source, date and tier table."""
    console = _console()
    try:
        pricer = Pricer(Settings())
    except PricingFileError as exc:
        console.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp()
        except ValueError:
            console.print(f"--at: expected a date like 2025-09-01, got {at!r}", style="red", markup=False)
            raise typer.Exit(2) from None
    entry = pricer.price_entry(provider=provider, model=model, at=when)
    if entry is None:
        message = f"No price for {provider}/{model}: its calls are recorded with priced=false and cost 0."
        console.print(message, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[bold]{escape(provider)}/{escape(model)}[/bold] → {escape(entry.refs[0].split('#')[0])}")
    console.print(f"source: {entry.source}", markup=False, soft_wrap=True)
    console.print(f"in force from: {_date(entry)}")
    console.print(f"prices: {entry.currency} per {_UNIT_NAMES[entry.unit]} tokens", end="")
    if entry.currency != pricer.currency:
        console.print(f" (recorded in {pricer.currency} at USD/CNY {pricer.usd_cny_rate})", end="")
    console.print()
    table = Table("tier")
    _price_columns(table)
    _add_tier_rows(table, [entry], with_model=False)
    console.print(table)


@pricing_app.command("list")
def list_catalogue() -> None:
    """Print the built-in DashScope catalogue (mainland China, CNY per 1K tokens), history included."""
    table = Table("model", "from", title="Built-in DashScope prices (CNY per 1K tokens, mainland China)")
    _price_columns(table)
    entries = sorted(DASHSCOPE_CATALOGUE, key=lambda e: (e.model, e.effective_ts))
    _add_tier_rows(table, entries, with_model=True)
    _console().print(table)
