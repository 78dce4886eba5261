"""``ai-usage-monitor store …``: commands about where the records are queried (``store migrate``)."""

from __future__ import annotations

import typer

from ai_usage_monitor.cli_options import StoreOption

__all__ = ["store_app"]

store_app = typer.Typer(
    help="The ClickHouse store: create or migrate its tables.", no_args_is_help=True, add_completion=False
)


@store_app.command("migrate")
def migrate_command(store_url: StoreOption = None) -> None:
    """Create the ClickHouse database and tables, or bring them up to date (safe to run again)."""
    from ai_usage_monitor.cli import SetupError, _options, _settings
    from ai_usage_monitor.config_errors import setting_origin
    from ai_usage_monitor.store.clickhouse import ClickHouseClient, StoreUnavailable, migrate
    from ai_usage_monitor.store.clickhouse.schema import SCHEMA_VERSION
    from ai_usage_monitor.store_url import parse_store_url

    settings = _settings(store=store_url)
    if not settings.store:
        raise SetupError(
            "no ClickHouse store to migrate: give --store clickhouse://USER:PASSWORD@HOST:PORT/DATABASE "
            "or set AI_USAGE_STORE"
        )
    client = ClickHouseClient(parse_store_url(settings.store))
    try:
        done = migrate(client, settings.index_retention_days)
    except StoreUnavailable as exc:
        origin = setting_origin("store", _options({"store": store_url}))
        raise SetupError(f"{exc}; the store setting comes from {origin.where}. Fix: {origin.fix}") from None
    finally:
        client.close()
    for line in done:
        typer.echo(line)
    if not done:
        typer.echo(f"{client.url.redacted}: the schema is current (version {SCHEMA_VERSION}); nothing to do")
