"""``ai-usage-monitor``: serve the API and dashboard, print reports and advice, rebuild the index, run demo.

Long work (a first ingest of a large history, a rebuild) shows a rich progress bar on stderr, so that
stdout carries only the report when it is piped.
"""

from __future__ import annotations

import enum
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ai_usage_monitor.cli_options import RecordsDirOption, StoreOption, wide_console
from ai_usage_monitor.config import Settings, SettingsError
from ai_usage_monitor.config_errors import setting_origin
from ai_usage_monitor.ship.command import ship
from ai_usage_monitor.state import resolve_settings

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = ["app", "main"]

app = typer.Typer(
    name="ai-usage-monitor",
    help="Tokens, money, time and errors of every LLM API call: server, reports, index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)
app.command()(ship)


class ReportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    table = "table"


class SetupError(typer.BadParameter):
    """Bad setup (settings, folders, port): ``main()`` prints it as one line and exits with 2."""

    def format_message(self) -> str:
        return self.message


def _click_errors() -> tuple[type[Exception], type[Exception]]:
    """Click's ``UsageError`` and ``ClickException`` as typer uses them (newer typer vendors click)."""
    classes = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
    return classes["UsageError"], classes["ClickException"]


def _options(overrides: Mapping[str, Any]) -> dict[str, str]:
    """Settings given on the command line → how a user wrote them (``option --records-dir``)."""
    given = [name for name, value in overrides.items() if value is not None]
    return {name: f"option --{name.replace('_', '-')}" for name in given}


def _settings(**overrides: Any) -> Settings:
    try:
        return resolve_settings(**overrides)
    except SettingsError as exc:
        message = str(exc)
        for name, how in _options(overrides).items():
            message = message.replace(f"keyword argument {name}=", how)
        raise SetupError(message) from None


def _shown_path(path: Path) -> str:
    """``'records/ai_usage'``, with the folder it resolves to when it is relative to the working directory."""
    if path.is_absolute():
        return repr(str(path))
    return f"{str(path)!r} (in the working directory: {path.absolute()})"


def _folder_problem(path: Path, *, create: bool, writable: bool = True) -> str | None:
    """Why ``path`` cannot serve as a folder (created when ``create``; written to when ``writable``)."""
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    if not path.exists() and not create:
        return "does not exist"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if writable:
            with tempfile.TemporaryFile(dir=path):
                pass
    except OSError as exc:
        return f"is not writable ({exc.strerror or exc})"
    return None


def _require_folders(
    settings: Settings, options: Mapping[str, str], *, create: bool, writes_records: bool = False
) -> None:
    """The records folder exists (or is created) and, with the index folder, is writable where it must be.

    The records folder is written to by the demo, and holds the index unless ``index_dir`` moves it.
    """
    writable = writes_records or settings.index_dir is None
    problem = _folder_problem(settings.records_dir, create=create, writable=writable)
    if problem is not None:
        origin = setting_origin("records_dir", options)
        raise SetupError(
            f"the records folder {_shown_path(settings.records_dir)} {problem}; "
            f"it comes from {origin.where}. Fix: {origin.fix}, or make that path a writable folder"
        )
    problem = _folder_problem(settings.index_path, create=True)
    if problem is not None:
        where = "the records folder" if settings.index_dir is None else setting_origin("index_dir").where
        raise SetupError(
            f"the index folder {_shown_path(settings.index_path)} {problem}; it comes from {where}. "
            "Fix: make it writable, or set AI_USAGE_INDEX_DIR to a writable folder"
        )


def _reading_settings(records_dir: Path | None, store: str | None = None, **overrides: Any) -> Settings:
    """The settings of a command that reads the records: an existing records folder (``--records-dir``
    and others), or the ClickHouse ``--store``."""
    settings = _settings(records_dir=records_dir, store=store, **overrides)
    if not settings.store:
        _require_folders(settings, _options({"records_dir": records_dir}), create=False)
    return settings


def _require_free_port(settings: Settings, options: Mapping[str, str]) -> None:
    """The server's address can be bound (checked before anything starts), else one line."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            origin = setting_origin("port", options)
            raise SetupError(
                f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}); the port comes "
                f"from {origin.where}. Fix: stop what uses it, or {origin.fix} (another port)"
            ) from None


def _in_range(value: int, low: int, high: int, option: str) -> int:
    if not low <= value <= high:
        raise typer.BadParameter(f"must be an integer from {low} to {high}, not {value}", param_hint=option)
    return value


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawing a bar on stderr while the block runs."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done, 1))

        yield update


def _open_store(settings: Settings, store_option: str | None = None) -> Store:
    """The store: ClickHouse, or the index brought up to date with a progress bar (a private in-memory one
    when a server holds it). A ClickHouse store that cannot be used is one line naming the setting."""
    from ai_usage_monitor.store.backend import open_store

    try:
        store = open_store(settings, given=_options({"store": store_option}))
    except SettingsError as exc:
        raise SetupError(str(exc)) from None
    if settings.store:
        return store
    with _progress_bar("indexing records") as progress:
        count = store.refresh(progress=progress)
    if count:
        _err.print(f"indexed {count:,} new records")
    return store


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (env AI_USAGE_HOST; 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (env AI_USAGE_PORT; 10090).")
    ] = None,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API, /metrics and the dashboard page (token from AI_USAGE_API_TOKEN)."""
    given = {"host": host, "port": port, "records_dir": records_dir, "store": store_url}
    settings = _settings(**given)
    if not settings.store:
        _require_folders(settings, _options(given), create=True)
    _require_free_port(settings, _options(given))
    import uvicorn

    from ai_usage_monitor.api.app import create_app
    from ai_usage_monitor.store.clickhouse import quiet_driver_log

    quiet_driver_log()
    store = _open_store(settings, store_url)
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
    store_url: StoreOption = None,
    *,
    service: Annotated[
        str | None, typer.Option(help="Only the calls of this service (the app that made them).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Only the calls made on this host.")] = None,
) -> None:
    """Usage of the last N days as a table, JSON or CSV."""
    _in_range(days, 1, 366, "--days")
    settings = _reading_settings(records_dir, store_url)
    from ai_usage_monitor.store.queries import Filters
    from ai_usage_monitor.store.reports import build_report, write_report

    if output is not None and output.is_dir():
        raise typer.BadParameter(f"{str(output)!r} is a folder", param_hint="--output")
    store = _open_store(settings, store_url)
    try:
        data = build_report(store, days, filters=Filters(service=service, host=host))
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
        console = wide_console(120)
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
    from ai_usage_monitor.store.retention import index_cutoff

    settings = _reading_settings(records_dir)
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
        cutoff = index_cutoff(settings, time.time())
        dropped = 0 if cutoff is None else store.drop_before(cutoff[0])
    finally:
        store.close()
    typer.echo(f"indexed {count:,} records from {settings.records_dir}")
    if cutoff is not None:
        typer.echo(f"dropped {dropped:,} index rows before {cutoff[1]} (index_retention_days)")


@app.command()
def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
    ] = False,
    records_dir: RecordsDirOption = None,
) -> None:
    """Gzip day files older than retention_days and drop index rows older than index_retention_days."""
    from ai_usage_monitor.store.index import UsageStore
    from ai_usage_monitor.store.retention import apply_retention

    settings = _reading_settings(records_dir)
    if not (settings.retention_days or settings.index_retention_days):
        _err.print("retention is off: set retention_days and/or index_retention_days (docs/operations.md)")
    store: UsageStore | None = None
    if settings.index_retention_days:
        store = UsageStore(settings)
        if store.mode != "file":
            store.close()
            store = None
            _err.print(
                f"the index in {settings.index_path} is in use (is a server running?): "
                "it drops its old rows itself; only day files are compressed"
            )
    try:
        with _progress_bar("compressing day files") as progress:
            report = apply_retention(settings, store, dry_run=dry_run, progress=progress)
    except OSError as exc:
        _fail(f"retention stopped: {exc.strerror or exc} ({exc.filename or settings.records_dir})", 1)
        raise
    finally:
        if store is not None:
            store.close()
    typer.echo(report.summary())


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 10090).")] = None,
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
    from ai_usage_monitor.demo import demo_records_dir

    given = {"port": port, "records_dir": records_dir}
    settings = _settings(**given)
    demo_dir = demo_records_dir(settings)
    demo_settings = settings.model_copy(update={"records_dir": demo_dir})
    _require_folders(demo_settings, _options(given), create=True, writes_records=True)
    _require_free_port(settings, _options(given))
    run_demo(settings, backfill_days=backfill)


@app.command()
def advise(
    days: Annotated[int, typer.Option(help="Calendar days ending today to learn from (1–90).")] = 30,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
) -> None:
    """What to change to spend less, each item with its saving per month at current volume."""
    _in_range(days, 1, 90, "--days")
    settings = _reading_settings(records_dir, store_url)
    from ai_usage_monitor.insights import advise_last_days
    from ai_usage_monitor.pricing import get_pricer

    pricer = get_pricer(settings)
    store = _open_store(settings, store_url)
    try:
        items = advise_last_days(store, pricer, days)
    finally:
        store.close()
    table = Table(
        title=f"advice from the last {days} days, savings per month in {pricer.currency}",
        title_justify="left",
    )
    for column in ("kind", "function", "model", "to model", "monthly saving", "how"):
        table.add_column(column, justify="right" if column == "monthly saving" else "left")
    for item in items:
        table.add_row(
            item.kind,
            _cell(item.function),
            item.model,
            _cell(item.to_model),
            f"{item.monthly_saving:.4f}",
            item.detail,
            end_section=True,
        )
    if not items:
        _err.print(f"no advice: no calls to learn from in the last {days} days")
    wide_console(160).print(table)


class ForecastScope(enum.StrEnum):
    all = "all"
    model = "model"
    function = "function"
    anchor = "anchor"


def _money(value: float) -> str:
    return f"{value:,.4f}"


@app.command()
def forecast(
    scope: Annotated[
        ForecastScope, typer.Option(help="The team only, or also per model, function or anchor.")
    ] = ForecastScope.all,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
) -> None:
    """Expected spend at month end and today, with an 80% band and the method that answered."""
    settings = _reading_settings(records_dir, store_url)
    from ai_usage_monitor.insights.report import build_forecast

    store = _open_store(settings, store_url)
    try:
        data = build_forecast(store, scope.value)
    finally:
        store.close()
    currency, today = data["currency"], data["today"]
    table = Table(title=f"forecast {data['month']} ({currency})", title_justify="left")
    for column in ("key", "month to date", "expected", "low (80%)", "high (80%)", "today", "method"):
        table.add_column(column, justify="left" if column in ("key", "method") else "right")
    for row in data["forecast"]:
        money = [_money(row[k]) for k in ("month_to_date", "expected", "low", "high")]
        table.add_row(row["key"], *money, _money(row["today"]["expected"]), row["method"])
    console = wide_console(100)
    console.print(table)
    console.print(
        f"today {today['date']}: spent {_money(today['spent'])}, expected {_money(today['expected'])} "
        f"({_money(today['low'])}–{_money(today['high'])}) {currency}"
    )
    for budget in data["budgets"]:
        console.print(f"budget {budget['name']}: runs out {budget['runs_out_at'] or 'not this period'}")


class DigestLanguage(enum.StrEnum):
    zh = "zh"
    en = "en"


@app.command()
def digest(
    *,
    print_only: Annotated[bool, typer.Option("--print", help="Show the digest; send nothing.")] = False,
    send: Annotated[
        bool, typer.Option("--send", help="Send it now to digest_channels (once per day / week).")
    ] = False,
    weekly: Annotated[
        bool, typer.Option("--weekly", help="The weekly digest (the 7 days to yesterday).")
    ] = False,
    language: Annotated[
        DigestLanguage | None, typer.Option(help="zh or en (digest_language, else notify_language).")
    ] = None,
    records_dir: RecordsDirOption = None,
    store_url: StoreOption = None,
) -> None:
    """The daily (or weekly) digest: yesterday's spend against last week, top lists, forecast, advice."""
    if print_only == send:
        raise typer.BadParameter("give exactly one of --print and --send", param_hint="--print / --send")
    settings = _reading_settings(records_dir, store_url, digest_language=language and language.value)
    if send and not settings.digest_channels:
        raise SetupError("no digest_channels are configured: name the channels to send the digest to")
    from ai_usage_monitor.insights.digest_schedule import queue_digest, render_digest
    from ai_usage_monitor.notify import get_outbox

    kind: Literal["daily", "weekly"] = "weekly" if weekly else "daily"
    store = _open_store(settings, store_url)
    try:
        if print_only:
            typer.echo(render_digest(store, kind).markdown(link=False))
            return
        outbox = get_outbox(settings)
        period, channels = queue_digest(store, kind, outbox=outbox)
    finally:
        store.close()
    if channels:
        outbox.flush(settings.notify_timeout * 2 + 5)
    for name in settings.digest_channels:
        before = "" if name in channels else " (queued before: not sent again)"
        typer.echo(f"{period.key} → {name}: {outbox.log.status_of(period.key, name)}{before}")


def _add_optional_commands() -> None:
    if not any(group.name == "store" for group in app.registered_groups):
        from ai_usage_monitor.store.cli import store_app

        app.add_typer(store_app, name="store")
    if any(group.name == "pricing" for group in app.registered_groups):
        return
    try:
        from ai_usage_monitor.pricing.cli import pricing_app
    except ModuleNotFoundError as exc:
        if exc.name != "ai_usage_monitor.pricing.cli":
            raise
        return
    app.add_typer(pricing_app, name="pricing")


def _fail(message: str, exit_code: int) -> None:
    sys.stderr.write(f"ai-usage-monitor: error: {' '.join(message.split())}\n")
    sys.exit(exit_code)


def main() -> None:
    """The ``ai-usage-monitor`` console script; every error is one line on stderr, never a traceback."""
    _add_optional_commands()
    usage_error, click_error = _click_errors()
    try:
        code = app(prog_name="ai-usage-monitor", standalone_mode=False)
    except click_error as exc:
        error = cast(Any, exc)
        if not error.format_message():  # no arguments: the help was shown
            sys.exit(error.exit_code)
        hint = ""
        if isinstance(exc, usage_error) and not isinstance(exc, SetupError) and error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        _fail(error.format_message() + hint, error.exit_code)
    except SettingsError as exc:
        _fail(str(exc), 2)
    except typer.Abort:
        _fail("aborted", 1)
    sys.exit(code if isinstance(code, int) else 0)


_STATE_STYLE = {"ok": "green", "warning": "yellow", "exceeded": "bold red"}


@app.command()
def budgets(
    records_dir: RecordsDirOption = None,
    top: Annotated[int, typer.Option(help='Values listed per "*" budget, by spend (1–1000).')] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the REST answer as JSON.")] = False,
) -> None:
    """Every budget in its current period: spent, reserved, limit, state and when it resets."""
    _in_range(top, 1, 1000, "--top")
    settings = _reading_settings(records_dir)
    from ai_usage_monitor.budgets import status as budget_status
    from ai_usage_monitor.budgets.current import current_status

    data = budget_status.as_json(current_status(settings, top_n=top), settings.tz, settings.currency)
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    if not settings.budgets:
        _err.print("no budgets: add [[budgets]] tables to the settings TOML (AI_USAGE_CONFIG)")
        return
    table = Table(title=f"budgets ({data['currency']})", title_justify="left")
    for column in (
        "budget",
        "scope value",
        "period",
        "spent",
        "reserved",
        "limit",
        "used",
        "state",
        "resets at",
        "action",
    ):
        table.add_column(
            column, justify="right" if column in ("spent", "reserved", "limit", "used") else "left"
        )
    for row in data["budgets"]:
        value = row["scope_value"]
        table.add_row(
            escape(row["name"]),
            escape(value) if value else ("-" if value == "" else "(none yet)"),
            row["period"],
            _money(row["spent"]),
            _money(row["reserved"]),
            _money(row["limit"]),
            f"{row['ratio']:.0%}",
            f"[{_STATE_STYLE[row['state']]}]{row['state']}[/]",
            row["resets_at"],
            row["action"],
        )
    console = wide_console(140)
    console.print(table)
    for more in data["omitted"]:
        console.print(
            f"{escape(more['name'])}: {more['count']} more values spent {_money(more['spent'])} "
            f"(highest {more['max_ratio']:.0%} of the limit)"
        )
