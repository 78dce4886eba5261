"""The compiled parts of the budget guard's hot path (docs/budgets.md, "Local"): the
ledger's operations and the input bound of the usual chat request.

Optional: where no C compiler is found the package installs without them and runs them in Python.
Everything else is declared in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"ai_usage_monitor.budgets.{name}",
            [f"ai_usage_monitor/budgets/{name}.c"],
            extra_compile_args=["-O2", "-fno-strict-aliasing"],
            optional=True,
        )
        for name in ("_ledger_ops", "_text_bytes")
    ]
)
