"""``ai-usage-monitor``: serve the API and dashboard, print or write reports, rebuild the index, run the demo.

Long work (a first ingest of a large history, a rebuild) shows a rich progress bar on stderr, so that
stdout carries only the report when it is piped.
"""

from __future__ import annotations

import enum
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ai_usage_monitor.config import Settings
from ai_usage_monitor.state import resolve_settings

if TYPE_CHECKING:
    from ai_usage_monitor.store.index import UsageStore

__all__ = ["app", "main"]

app = typer.Typer(
    name="ai-usage-monitor",
    help="Tokens, money, time and errors of every LLM API call: server, reports, index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)

RecordsDirOption = Annotated[
    Path | None,
    typer.Option("--records-dir", help="Folder of usage_*.jsonl files [env AI_USAGE_RECORDS_DIR]."),
]


class ReportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    table = "table"


def _settings(**overrides: Any) -> Settings:
    try:
        return resolve_settings(**overrides)
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def _in_range(value: int, low: int, high: int, option: str) -> int:
    if not low <= value <= high:
        raise typer.BadParameter(f"must be an integer from {low} to {high}, not {value}", param_hint=option)
    return value


def _require_records_dir(settings: Settings) -> None:
    if not settings.records_dir.is_dir():
        raise typer.BadParameter(
            f"records folder {str(settings.records_dir)!r} does not exist", param_hint="--records-dir"
        )


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawing a bar on stderr while the block runs."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done, 1))

        yield update


def _open_store(settings: Settings) -> UsageStore:
    """The index, brought up to date with a progress bar (a private in-memory one when a server holds it)."""
    from ai_usage_monitor.store.index import UsageStore

    store = UsageStore(settings)
    with _progress_bar("indexing records") as progress:
        count = store.refresh(progress=progress)
    if count:
        _err.print(f"indexed {count:,} new records")
    return store


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [env AI_USAGE_HOST; 127.0.0.1].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [env AI_USAGE_PORT; 10090].")
    ] = None,
    records_dir: RecordsDirOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API, /metrics and the dashboard page (token from AI_USAGE_API_TOKEN)."""
    import uvicorn

    from ai_usage_monitor.api.app import create_app

    settings = _settings(host=host, port=port, records_dir=records_dir)
    settings.records_dir.mkdir(parents=True, exist_ok=True)
    store = _open_store(settings)
    try:
        auth = "bearer token required" if settings.api_token else "no token"
        _err.print(f"dashboard: http://{settings.host}:{settings.port}/ ({auth} for /api)")
        uvicorn.run(create_app(store=store), host=settings.host, port=settings.port, log_level=log_level)
    finally:
        store.close()


@app.command()
def report(
    days: Annotated[int, typer.Option(help="Calendar days ending today (1–366).")] = 7,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = ReportFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    records_dir: RecordsDirOption = None,
) -> None:
    """Usage of the last N days as a table, JSON or CSV."""
    _in_range(days, 1, 366, "--days")
    settings = _settings(records_dir=records_dir)
    _require_records_dir(settings)
    from ai_usage_monitor.store.reports import build_report, write_report

    if output is not None and output.is_dir():
        raise typer.BadParameter(f"{str(output)!r} is a folder", param_hint="--output")
    store = _open_store(settings)
    try:
        data = build_report(store, days)
    finally:
        store.close()
    if fmt is ReportFormat.table:
        _print_table(data, output)
        return
    file_format: Literal["json", "csv"] = "json" if fmt is ReportFormat.json else "csv"
    if output is not None:
        write_report(data, output, file_format)
        _err.print(f"report written to {output}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"report.{file_format}"
            write_report(data, path, file_format)
            sys.stdout.flush()
            sys.stdout.buffer.write(path.read_bytes())
            sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return "" if value is None else str(value)


def _rows_of(value: Any) -> list[Mapping[str, Any]] | None:
    """A list of rows, or a name → row mapping turned into one; ``None`` for anything else."""
    if isinstance(value, list) and all(isinstance(row, Mapping) for row in value):
        return value
    if isinstance(value, Mapping) and value and all(isinstance(row, Mapping) for row in value.values()):
        return [{"name": name, **row} for name, row in value.items()]
    return None


def _rows_table(title: str, rows: list[Mapping[str, Any]]) -> Table:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    return table


def _report_tables(data: Mapping[str, Any]) -> list[Table]:
    """One table of the report's single values (nested ones as ``a.b``), then one per list of rows."""
    plain = Table(title="report", title_justify="left", show_header=False)
    plain.add_column("field")
    plain.add_column("value")
    tables = [plain]
    pending = list(data.items())
    while pending:
        key, value = pending.pop(0)
        rows = _rows_of(value)
        if rows is not None:
            tables.append(_rows_table(key, rows))
        elif isinstance(value, Mapping):
            pending[:0] = [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            plain.add_row(key, _cell(value))
    return tables


def _print_table(data: Mapping[str, Any], output: Path | None) -> None:
    if output is None:
        console = Console(width=max(Console().width, 120))
        for table in _report_tables(data):
            console.print(table)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as out:
        console = Console(file=out, width=160, no_color=True)
        for table in _report_tables(data):
            console.print(table)
    _err.print(f"report written to {output}")


@app.command()
def reindex(records_dir: RecordsDirOption = None) -> None:
    """Rebuild the index from the JSONL files (the server must be stopped)."""
    from ai_usage_monitor.store.index import UsageStore

    settings = _settings(records_dir=records_dir)
    _require_records_dir(settings)
    store = UsageStore(settings)
    if getattr(store, "mode", "file") == "memory":
        store.close()
        _err.print(
            f"[red]the index in {settings.index_path} is in use (is a server running?): stop it first[/]"
        )
        raise typer.Exit(1)
    try:
        with _progress_bar("rebuilding the index") as progress:
            count = store.rebuild(progress=progress)
    finally:
        store.close()
    typer.echo(f"indexed {count:,} records from {settings.records_dir}")


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port [10090].")] = None,
    records_dir: RecordsDirOption = None,
    backfill: Annotated[int, typer.Option(help="Days of history to generate first (0–366).")] = 30,
) -> None:
    """Generate realistic usage and serve the dashboard over it."""
    _in_range(backfill, 0, 366, "--backfill")
    try:
        from ai_usage_monitor.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name != "ai_usage_monitor.demo":
            raise
        _err.print("[red]the demo is not part of this installation[/]")
        raise typer.Exit(1) from exc
    run_demo(_settings(port=port, records_dir=records_dir), backfill_days=backfill)


def _add_optional_commands() -> None:
    if any(group.name == "pricing" for group in app.registered_groups):
        return
    try:
        from ai_usage_monitor.pricing.cli import pricing_app
    except ModuleNotFoundError as exc:
        if exc.name != "ai_usage_monitor.pricing.cli":
            raise
        return
    app.add_typer(pricing_app, name="pricing")


def main() -> None:
    """The ``ai-usage-monitor`` console script."""
    _add_optional_commands()
    app()
