"""``ai-usage-monitor ship``: tail a records folder's JSONL and insert the records into ClickHouse in
batches, committing offsets only after each insert is acknowledged (``shipper.py``)."""

from __future__ import annotations

from ai_usage_monitor.ship.shipper import ShipOptions, Shipper, ShipStats, Sink
from ai_usage_monitor.ship.state import ShipState, state_path

__all__ = ["ShipOptions", "ShipState", "ShipStats", "Shipper", "Sink", "state_path"]
