"""``ai-usage-monitor pricing show|list|unpriced|diff``: which price a model gets, the built-in catalogue,
the models the records could not price, and what a change of prices does to recent costs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ai_usage_monitor.cli_options import RecordsDirOption, StoreOption, wide_console
from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing.catalogue import builtin_entries
from ai_usage_monitor.pricing.lookup import find_prices
from ai_usage_monitor.pricing.models import UNITS, PriceEntry
from ai_usage_monitor.pricing.overrides import PricingFileError
from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.pricing.repricing import BUILTIN, ModelCosts, reprice, unpriced_models

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = ["pricing_app"]

pricing_app = typer.Typer(
    help="Model prices: the entry a model is priced with, the built-in catalogue, unpriced models, diffs."
)

_UNIT_NAMES = {size: name for name, size in UNITS.items()}


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
    """When the entry is in force: its date (``undated`` for all history) and time-of-day window, if any."""
    return entry.refs[0].rsplit("@", 1)[1].split("#")[0]


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


def _pricer(console: Console, settings: Settings | None = None) -> Pricer:
    """A Pricer for ``settings`` (default: from the environment); a bad pricing file exits with code 2."""
    try:
        return Pricer(settings if settings is not None else Settings())
    except PricingFileError as exc:
        console.print(str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _print_entry(console: Console, pricer: Pricer, provider: str, model: str, entry: PriceEntry) -> None:
    console.print(f"[bold]{escape(provider)}/{escape(model)}[/bold] → {escape(entry.refs[0].split('#')[0])}")
    console.print(f"source: {entry.source}", markup=False, soft_wrap=True)
    if entry.note:
        console.print(f"note: {entry.note}", markup=False, soft_wrap=True)
    console.print(f"in force from: {_date(entry)}")
    console.print(f"prices: {entry.currency} per {_UNIT_NAMES[entry.unit]} tokens", end="")
    if entry.currency != pricer.currency:
        console.print(f" (recorded in {pricer.currency} at USD/CNY {pricer.usd_cny_rate})", end="")
    console.print()
    table = Table("tier")
    _price_columns(table)
    _add_tier_rows(table, [entry], with_model=False)
    console.print(table)


@pricing_app.command("show")
def show(
    model: Annotated[
        str, typer.Argument(help="Model name as sent to the provider, e.g. qwen-plus-2025-07-14.")
    ],
    provider: Annotated[
        str | None,
        typer.Option(help="Provider (dashscope, openai, deepseek, …); default: every provider with a price."),
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Price in force at this date (YYYY-MM-DD, UTC) instead of now.")
    ] = None,
) -> None:
    """Print the price entry a model is billed with: source, date, tiers (without --provider: every match)."""
    console = wide_console()
    settings = Settings()
    pricer = _pricer(console, settings)
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp()
        except ValueError:
            console.print(f"--at: expected a date like 2025-09-01, got {at!r}", style="red", markup=False)
            raise typer.Exit(2) from None
    if provider is not None:
        entry = pricer.price_entry(provider=provider, model=model, at=when)
        matches = [(provider, entry)] if entry is not None else []
    else:
        matches = find_prices(pricer, settings, model, at=when)
    if not matches:
        where = provider if provider is not None else "any provider"
        message = f"No price for {model} at {where}: its calls are recorded with priced=false and cost 0."
        console.print(message, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    if len(matches) > 1:
        console.print(f"{len(matches)} prices match {model}: pass --provider to pick the one your calls use.")
    for found_provider, entry in matches:
        _print_entry(console, pricer, found_provider, model, entry)


@pricing_app.command("list")
def list_catalogue(
    provider: Annotated[str | None, typer.Option(help="Only this provider's data file.")] = None,
) -> None:
    """Print the built-in prices, one table per provider in its own currency and unit, history included."""
    console = wide_console()
    by_provider: dict[tuple[str, str, int], list[PriceEntry]] = {}
    for entry in builtin_entries():
        if provider is None or entry.provider == provider:
            by_provider.setdefault((entry.provider, entry.currency, entry.unit), []).append(entry)
    if not by_provider:
        console.print(f"No built-in prices for {provider!r}.", markup=False)
        raise typer.Exit(1)
    for (name, currency, unit), entries in sorted(by_provider.items()):
        title = f"Built-in {name} prices ({currency} per {_UNIT_NAMES[unit]} tokens)"
        table = Table("model", "from", title=title, title_justify="left")
        _price_columns(table)
        _add_tier_rows(table, sorted(entries, key=lambda e: (e.model, e.effective_ts)), with_model=True)
        console.print(table)


DaysOption = Annotated[int, typer.Option(min=1, max=366, help="Calendar days ending today (1–366).")]


@pricing_app.command("unpriced")
def unpriced(
    days: DaysOption = 30,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
) -> None:
    """Models the records of the last N days could not price, with their calls and tokens (money at risk)."""
    console = wide_console(150)
    store, settings = _open_records(records_dir, store_url)
    try:
        rows = unpriced_models(store, days, _pricer(console, settings))
    finally:
        store.close()
    if not rows:
        console.print(f"Every call of the last {days} days with known usage was priced.")
        return
    table = Table(title=f"Unpriced models, last {days} days", title_justify="left")
    for name in ("provider", "model", "calls", "input tokens", "output tokens", "last call", "priced now"):
        table.add_column(name, justify="right" if "tokens" in name or name == "calls" else "left")
    for row in rows:
        table.add_row(
            row.provider,
            row.model,
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            datetime.fromtimestamp(row.last_ts, settings.tz).strftime("%Y-%m-%d %H:%M"),
            row.priced_now or "no",
        )
    console.print(table)
    console.print(
        "Add a price: see `ai-usage-monitor pricing show MODEL` and the override file in pricing/README.md."
    )


@pricing_app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help=f"Prices before: a pricing TOML file, or {BUILTIN!r}.")],
    new: Annotated[str, typer.Argument(help=f"Prices after: a pricing TOML file, or {BUILTIN!r}.")],
    days: DaysOption = 30,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
) -> None:
    """What a change of prices does to the last N days' costs: every record re-priced with OLD and NEW.

    Each file applies as the override file would, over the built-in data; ``builtin`` is the built-in
    data alone. Cache-write tokens are not in the index, so they are re-priced as plain input.
    """
    console = wide_console()
    store, settings = _open_records(records_dir, store_url)
    try:
        before, after = (_pricer(console, _with_prices(settings, name)) for name in (old, new))
        rows = reprice(store, days, before, after)
    finally:
        store.close()
    changed = [row for row in rows if row.before != row.after]
    title = f"Costs of the last {days} days in {settings.currency}: {old} → {new}"
    table = Table(title=title, title_justify="left")
    for name in ("provider", "model", "calls", "before", "after", "delta"):
        table.add_column(name, justify="left" if name in ("provider", "model") else "right")
    for row in changed:
        table.add_row(
            row.provider, row.model, f"{row.calls:,}", _amount(row.before), _amount(row.after), _delta(row)
        )
    total_before = sum(row.before for row in rows)
    total_after = sum(row.after for row in rows)
    table.add_row(
        "total",
        f"{len(rows)} models",
        f"{sum(row.calls for row in rows):,}",
        _amount(total_before),
        _amount(total_after),
        f"{total_after - total_before:+.4f}",
        style="bold",
    )
    console.print(table)
    console.print(f"{len(changed)} of {len(rows)} models change.")


def _open_records(records_dir: Path | None, store: str | None = None) -> tuple[Store, Settings]:
    """The records' store (the index brought up to date, or ClickHouse) and the settings it was opened
    with."""
    from ai_usage_monitor.cli import _open_store, _reading_settings

    settings = _reading_settings(records_dir, store)
    return _open_store(settings, store), settings


def _with_prices(settings: Settings, name: str) -> Settings:
    """``settings`` with ``name`` (a TOML file, or the built-in data alone) as its pricing file."""
    if name == BUILTIN:
        return settings.model_copy(update={"pricing_file": None})
    path = Path(name)
    if not path.is_file():
        raise typer.BadParameter(f"{name!r} is neither a pricing file nor {BUILTIN!r}")
    return settings.model_copy(update={"pricing_file": path})


def _amount(value: float) -> str:
    return f"{value:.4f}"


def _delta(row: ModelCosts) -> str:
    delta = row.after - row.before
    if row.before:
        return f"{delta:+.4f} ({delta / row.before:+.0%})"
    return f"{delta:+.4f}"
