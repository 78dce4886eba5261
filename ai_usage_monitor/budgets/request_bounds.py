"""What a request says about its own worst case, read from the SDK call's arguments (any provider).

OpenAI, DashScope and Anthropic name the same things differently: the messages (``messages``, ``input``,
``prompt``), the output cap (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``, inside
``parameters`` or ``extra_body``) and the thinking budget. The SDKs' "not given" sentinels are falsy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestBounds", "request_bounds"]

_MESSAGE_KEYS = ("messages", "input", "prompt")
#: request parts billed as input besides the messages (tool definitions, system prompts, history)
_EXTRA_KEYS = ("tools", "functions", "system", "instructions", "response_format", "history", "tool_choice")
_MAX_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_THINKING_BUDGET_KEYS = ("thinking_budget",)


@dataclass(frozen=True, slots=True)
class RequestBounds:
    """The parts of a request ``worst_case`` needs."""

    messages: list[Any]
    extra: Any
    max_tokens: int | None
    thinking: bool
    thinking_budget: int | None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first_count(keys: tuple[str, ...], *sources: Any) -> int | None:
    for source in sources:
        if isinstance(source, Mapping):
            for key in keys:
                found = _count(source.get(key))
                if found is not None:
                    return found
    return None


def request_bounds(args: tuple[Any, ...], kwargs: Mapping[str, Any], *, thinking: bool) -> RequestBounds:
    """Read the bounds of one call; ``args`` after the first (DashScope's positional prompt) are input."""
    messages: list[Any] = []
    for key in _MESSAGE_KEYS:
        value = kwargs.get(key)
        if not value:
            continue
        if isinstance(value, list | tuple):
            messages.extend(value)
        else:
            messages.append(value)
    extra = {key: kwargs[key] for key in _EXTRA_KEYS if kwargs.get(key)}
    if len(args) > 1:
        extra["positional"] = list(args[1:])
    parameters = kwargs.get("parameters")
    extra_body = kwargs.get("extra_body")
    anthropic_thinking = kwargs.get("thinking")
    thinks = thinking or (isinstance(extra_body, Mapping) and bool(extra_body.get("enable_thinking")))
    budget = _first_count(_THINKING_BUDGET_KEYS, kwargs, parameters, extra_body)
    if isinstance(anthropic_thinking, Mapping) and anthropic_thinking.get("type") == "enabled":
        thinks = True
        budget = budget or _count(anthropic_thinking.get("budget_tokens"))
    return RequestBounds(
        messages=messages,
        extra=extra or None,
        max_tokens=_first_count(_MAX_TOKEN_KEYS, kwargs, parameters, extra_body),
        thinking=thinks,
        thinking_budget=budget,
    )
