"""``python -m ai_usage_monitor``: the ``ai-usage-monitor`` command."""

from ai_usage_monitor.cli import main

main()
