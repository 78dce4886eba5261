"""The one compiled part: the budget ledger's hot operations (docs/budgets.md, "The ledger's C path").

Optional: where no C compiler is found the package installs without it and runs them in Python.
Everything else is declared in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ai_usage_monitor.budgets._ledger_ops",
            ["ai_usage_monitor/budgets/_ledger_ops.c"],
            extra_compile_args=["-O2", "-fno-strict-aliasing"],
            optional=True,
        )
    ]
)
