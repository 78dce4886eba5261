"""``ai-usage-monitor ship``: the sidecar that ships a records folder to ClickHouse, and ``--status``."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ai_usage_monitor.cli_options import RecordsDirOption, wide_console
from ai_usage_monitor.ship.lag import measure_lag
from ai_usage_monitor.ship.shipper import ShipOptions
from ai_usage_monitor.ship.state import STATE_DIR, ShipState, state_path

__all__ = ["ship"]

log = logging.getLogger("ai_usage_monitor.ship")


def _when(ts: float | None) -> str:
    return "never" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_status(records_dir: Path, states: list[ShipState]) -> None:
    """Per shipper: each file's shipped and total bytes, then the lag and totals."""
    console = wide_console()
    for state in states:
        lag = measure_lag(records_dir, state.files)
        table = Table(title=f"shipper {state.path.stem} → {state.target or '?'}", title_justify="left")
        for column in ("file", "shipped bytes", "total bytes", "behind bytes"):
            table.add_column(column, justify="left" if column == "file" else "right")
        for f in lag.files:
            table.add_row(escape(f.name), f"{f.shipped:,}", f"{f.total:,}", f"{f.behind:,}")
        console.print(table)
        console.print(
            f"lag: {lag.bytes:,} bytes, {lag.seconds:.1f} s (oldest unshipped record); "
            f"shipped {state.records:,} records in {state.batches:,} batches; "
            f"last success: {_when(state.last_success)}",
            highlight=False,
            soft_wrap=True,
        )


def _default_name(store: str) -> str:
    from ai_usage_monitor.store_url import parse_store_url

    url = parse_store_url(store)
    return f"{url.host}_{url.port}_{url.database}"


def _run(
    records_dir: Path, store: str, name: str, options: ShipOptions, metrics: tuple[str, int] | None
) -> None:
    from ai_usage_monitor.ship.hold import hold_hook
    from ai_usage_monitor.ship.metrics import serve_metrics
    from ai_usage_monitor.ship.shipper import Shipper
    from ai_usage_monitor.ship.sink import ClickHouseSink
    from ai_usage_monitor.store_url import parse_store_url

    url = parse_store_url(store)
    path = state_path(records_dir, name)
    state = ShipState.load(path)
    state.target = url.redacted
    sink = ClickHouseSink(url)
    shipper = Shipper(records_dir, sink, state, options, after_insert=hold_hook(path.with_suffix(".held")))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = None
    if metrics is not None:
        host, port = metrics
        try:
            server = serve_metrics(shipper, host, port)
        except OSError as exc:
            sink.close()
            raise typer.BadParameter(
                f"cannot listen on {host}:{port} ({exc.strerror or exc})", param_hint="--metrics-port"
            ) from None
        log.info("shipper metrics on http://%s:%d/metrics", host, port)
    log.info(
        "shipping %s to %s (batches of up to %d records, %.1f s apart at most); state in %s",
        records_dir,
        url.redacted,
        options.batch_size,
        options.max_delay,
        path,
    )
    try:
        shipper.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        sink.close()
    log.info("stopped after shipping %d records in %d batches", shipper.stats.records, shipper.stats.batches)


def ship(
    *,
    store: Annotated[
        str | None,
        typer.Option(
            help="clickhouse://USER:PASSWORD@HOST:PORT/DATABASE (native port) (env AI_USAGE_STORE)."
        ),
    ] = None,
    records_dir: RecordsDirOption = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Records per insert at most.")
    ] = 20_000,
    max_delay: Annotated[
        float, typer.Option(min=0.01, max=3600, help="Seconds a record waits for its batch at most.")
    ] = 1.0,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Serve the shipper's /metrics on this port (0: off).")
    ] = 0,
    metrics_host: Annotated[str, typer.Option(help="Address of /metrics.")] = "127.0.0.1",
    name: Annotated[
        str | None, typer.Option(help="The state's name under <records>/.ship (default HOST_PORT_DATABASE).")
    ] = None,
    status: Annotated[
        bool, typer.Option("--status", help="Print shipped / total bytes per file and the lag, then exit.")
    ] = False,
) -> None:
    """Ship the records folder's JSONL to ClickHouse in batches, as a sidecar (SIGTERM: flush and stop)."""
    from ai_usage_monitor.state import resolve_settings

    settings = resolve_settings(records_dir=records_dir, store=store)
    folder = Path(settings.records_dir)
    if not folder.is_dir():
        raise typer.BadParameter(
            f"the records folder {str(folder)!r} is not a folder", param_hint="--records-dir"
        )
    target = settings.store
    try:
        shipper_name = name or (_default_name(target) if target else None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from None
    if status:
        if shipper_name is not None:
            states = [ShipState.load(state_path(folder, shipper_name))]
        else:
            states = [ShipState.load(p) for p in sorted((folder / STATE_DIR).glob("*.json"))]
        if not states:
            typer.echo(f"no shipper has run on {folder} (no state in {folder / STATE_DIR})")
            return
        print_status(folder, states)
        return
    if not target or shipper_name is None:
        raise typer.BadParameter(
            "give the ClickHouse store to ship to (or set AI_USAGE_STORE)", param_hint="--store"
        )
    from ai_usage_monitor.store.clickhouse import quiet_driver_log

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_driver_log()
    options = ShipOptions(batch_size=batch_size, max_delay=max_delay)
    _run(folder, target, shipper_name, options, (metrics_host, metrics_port) if metrics_port else None)
