"""``instrument()`` / ``uninstrument()``: patch the OpenAI, DashScope and Anthropic clients in one line."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

import wrapt
from opentelemetry.trace import TracerProvider

from ai_usage_monitor.config import Settings
from ai_usage_monitor.context import carry_into_thread_pools
from ai_usage_monitor.instrumentation.core import use_tracer_provider
from ai_usage_monitor.instrumentation.tracing import otlp_tracer_provider
from ai_usage_monitor.internal import set_raise_internal_errors
from ai_usage_monitor.recorder import Recorder, set_recorder
from ai_usage_monitor.state import set_active_settings

__all__ = ["INSTRUMENTORS", "instrument", "instrumented_providers", "uninstrument"]

logger = logging.getLogger("ai_usage_monitor")

#: provider name → (SDK package it patches, "module:Instrumentor class")
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "ai_usage_monitor.instrumentation.openai:OpenAIUsageInstrumentor"),
    "dashscope": ("dashscope", "ai_usage_monitor.instrumentation.dashscope:DashScopeUsageInstrumentor"),
    "anthropic": ("anthropic", "ai_usage_monitor.instrumentation.anthropic:AnthropicUsageInstrumentor"),
}


#: providers ``instrument()`` asked for whose SDK was not imported yet: patched when it is
_pending: set[str] = set()
#: providers with a post-import hook registered (a hook cannot be removed: it checks ``_pending``)
_hooked: set[str] = set()
_pending_lock = threading.Lock()


def _instrumentor(name: str) -> Any:
    module_name, class_name = INSTRUMENTORS[name][1].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def _patch(name: str) -> None:
    instrumentor = _instrumentor(name)
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def _patch_when_imported(name: str) -> None:
    """Patch ``name``'s SDK now if the app imported it, else when it does: importing an SDK the app may
    never use (the Anthropic one takes seconds) is not ``instrument()``'s to pay for."""
    with _pending_lock:
        if INSTRUMENTORS[name][0] in sys.modules:
            _pending.discard(name)
        else:
            _pending.add(name)
            if name not in _hooked:
                _hooked.add(name)
                wrapt.register_post_import_hook(lambda _module: _on_import(name), INSTRUMENTORS[name][0])
            return
    _patch(name)


def _on_import(name: str) -> None:
    with _pending_lock:
        if name not in _pending:
            return
        _pending.discard(name)
    _patch(name)


def instrument(
    *,
    providers: Iterable[str] | None = None,
    tracer_provider: TracerProvider | None = None,
    otlp_endpoint: str | None = None,
    **settings: Any,
) -> Settings:
    """Record every call of the installed OpenAI / DashScope / Anthropic SDKs; keyword arguments are
    Settings fields.

    Calling it again applies the new settings without patching twice. Returns the settings in force.
    """
    resolved = Settings(**settings)
    carry_into_thread_pools()
    set_raise_internal_errors(resolved.raise_internal_errors)
    set_active_settings(resolved)
    recorder = Recorder(resolved)
    previous = set_recorder(recorder)
    if previous is not None:
        previous.close()
    # genai-prices' data takes ~0.3 s to load: do it now, off the caller's thread, not on the first call
    threading.Thread(target=recorder.pricer.warm_up, name="ai-usage-pricing-warm-up", daemon=True).start()
    use_tracer_provider(tracer_provider or otlp_tracer_provider(otlp_endpoint))
    wanted = list(providers) if providers is not None else list(INSTRUMENTORS)
    for name in wanted:
        if name not in INSTRUMENTORS:
            raise ValueError(f"unknown provider {name!r}; known: {', '.join(INSTRUMENTORS)}")
        if importlib.util.find_spec(INSTRUMENTORS[name][0]) is None:
            if providers is not None:
                logger.warning("ai-usage-monitor: %s is not installed, nothing to instrument", name)
            continue
        _patch_when_imported(name)
    return resolved


def uninstrument() -> None:
    """Restore every patched SDK method (and forget the SDKs waiting to be imported)."""
    with _pending_lock:
        _pending.clear()
    for name in INSTRUMENTORS:
        if INSTRUMENTORS[name][0] not in sys.modules:
            continue
        instrumentor = _instrumentor(name)
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def instrumented_providers() -> list[str]:
    """Names of the providers whose SDK is patched right now (not those still waiting for their import)."""
    return [
        name
        for name in INSTRUMENTORS
        if INSTRUMENTORS[name][0] in sys.modules and _instrumentor(name).is_instrumented_by_opentelemetry
    ]
