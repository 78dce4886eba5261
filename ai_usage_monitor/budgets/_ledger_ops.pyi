"""Types of the compiled gate (``_ledger_ops.c``): a class with the operations ``gate.FastGate`` describes."""

from ai_usage_monitor.budgets.gate import FastGate

LAYOUT: tuple[int, int, int, int, int]
#: the process's lock and the view of one mapped counters file, with its hot operations
Gate: type[FastGate]
