"""Budgets: configuration, the spend ledger shared by processes and hosts, and the worst-case rule.

Only the configuration is imported here (``ai_usage_monitor.config`` needs it); import
``budgets.ledger``, ``budgets.seed`` and ``budgets.worst_case`` for the rest (docs/budgets.md).
"""

from ai_usage_monitor.budgets.config import Budget, PeriodClock, PeriodWindow, period_window, scope_value

__all__ = ["Budget", "PeriodClock", "PeriodWindow", "period_window", "scope_value"]
