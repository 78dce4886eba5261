"""Insights drawn from the records: advice priced on the team's own traffic."""

from __future__ import annotations

from ai_usage_monitor.insights.advice import Advice, advise, advise_last_days

__all__ = ["Advice", "advise", "advise_last_days"]
