"""``UsageInstrumentor``: an OpenTelemetry ``BaseInstrumentor`` whose patch targets live in one table.

Each provider subclass lists its targets; this class wraps them with wrapt in a loop and restores the
exact original attribute objects on uninstrument (OpenTelemetry's ``unwrap`` would leave a bound method
where a classmethod stood).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from ai_usage_monitor.instrumentation.core import Extractor, make_async_wrapper, make_sync_wrapper

__all__ = ["PatchTarget", "UsageInstrumentor"]

logger = logging.getLogger("ai_usage_monitor")


@dataclass(frozen=True, slots=True)
class PatchTarget:
    """``module``'s ``Class.method`` to wrap with ``extractor``; ``kind`` says if it returns a coroutine."""

    module: str
    qualname: str
    kind: Literal["sync", "async"]
    extractor: Extractor


class UsageInstrumentor(BaseInstrumentor):
    """Patches every available target of ``targets``; missing ones (older SDKs) are skipped and logged."""

    targets: ClassVar[tuple[PatchTarget, ...]] = ()
    package: ClassVar[str] = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()  # availability is checked per target, so a missing SDK is logged, never silent

    def _instrument(self, **kwargs: Any) -> None:
        # BaseInstrumentor is a per-class singleton whose __init__ runs on every construction: keep the
        # originals on the instance but create the list here, while not instrumented.
        self._originals: list[tuple[Any, str, Any]] = []
        for target in self.targets:
            owner, attribute = _resolve(target)
            if owner is None:
                continue
            original = vars(owner)[attribute]
            factory = make_async_wrapper if target.kind == "async" else make_sync_wrapper
            wrapt.wrap_function_wrapper(owner, attribute, factory(target.extractor))
            self._originals.append((owner, attribute, original))

    def _uninstrument(self, **kwargs: Any) -> None:
        while getattr(self, "_originals", None):
            owner, attribute, original = self._originals.pop()
            setattr(owner, attribute, original)


def _resolve(target: PatchTarget) -> tuple[Any, str]:
    """The class (or module) that defines the target's attribute, or ``(None, "")`` if this SDK lacks it."""
    try:
        owner: Any = importlib.import_module(target.module)
    except ImportError:
        logger.debug(
            "ai-usage-monitor: %s not importable, %s not instrumented", target.module, target.qualname
        )
        return None, ""
    *path, attribute = target.qualname.split(".")
    for name in path:
        owner = getattr(owner, name, None)
        if owner is None:
            break
    if owner is None or attribute not in vars(owner):
        logger.debug("ai-usage-monitor: %s.%s not found, skipped", target.module, target.qualname)
        return None, ""
    return owner, attribute
