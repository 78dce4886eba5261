"""``AnthropicUsageInstrumentor``: the Anthropic SDK methods the monitor wraps.

``messages.stream()`` sends its request itself (not through ``create``) when its manager is entered, so
it has its own target; should an SDK version route it through ``create``, the core's re-entrancy guard,
held while the manager is entered, still records the call once.
"""

from __future__ import annotations

from typing import ClassVar

from ai_usage_monitor.instrumentation.anthropic.extractors import MessagesExtractor, StreamHelperExtractor
from ai_usage_monitor.instrumentation.base import PatchTarget, UsageInstrumentor

__all__ = ["AnthropicUsageInstrumentor"]

_MESSAGES = MessagesExtractor()
_STREAM_HELPER = StreamHelperExtractor()
_MODULE = "anthropic.resources.messages.messages"


class AnthropicUsageInstrumentor(UsageInstrumentor):
    """Records ``messages.create`` (plain and ``stream=True``), ``messages.parse`` and ``messages.stream``."""

    package: ClassVar[str] = "anthropic"
    targets: ClassVar[tuple[PatchTarget, ...]] = (
        PatchTarget(_MODULE, "Messages.create", "sync", _MESSAGES),
        PatchTarget(_MODULE, "Messages.parse", "sync", _MESSAGES),
        PatchTarget(_MODULE, "AsyncMessages.create", "async", _MESSAGES),
        PatchTarget(_MODULE, "AsyncMessages.parse", "async", _MESSAGES),
        # both return a manager at once (the async one too): the request goes out when it is entered
        PatchTarget(_MODULE, "Messages.stream", "sync", _STREAM_HELPER),
        PatchTarget(_MODULE, "AsyncMessages.stream", "sync", _STREAM_HELPER),
    )
