"""What a request says about its own worst case, read from the SDK call's arguments (any provider).

OpenAI, DashScope and Anthropic name the same things differently: the messages (``messages``, ``input``,
``prompt``), the output cap (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``, inside
``parameters`` or ``extra_body``) and the thinking budget. The SDKs' "not given" sentinels are falsy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ROLES", "RequestBounds", "request_bounds"]

#: what each request keyword says: input messages, other billed input, the output cap, the thinking
#: budget, or a mapping holding some of those (DashScope ``parameters``, OpenAI ``extra_body``)
ROLES: dict[str, str] = {
    **dict.fromkeys(("messages", "input", "prompt"), "messages"),
    **dict.fromkeys(
        ("tools", "functions", "system", "instructions", "response_format", "history", "tool_choice"), "extra"
    ),
    **dict.fromkeys(("max_tokens", "max_completion_tokens", "max_output_tokens"), "max_tokens"),
    "thinking_budget": "thinking_budget",
    "parameters": "nested",
    "extra_body": "nested",
    "enable_thinking": "thinking",
    "thinking": "anthropic_thinking",
}


@dataclass(slots=True)
class RequestBounds:
    """The parts of a request ``worst_case`` needs (not frozen: built on every guarded call, and a frozen
    dataclass's ``__init__`` costs several times more)."""

    messages: list[Any]
    extra: Any
    max_tokens: int | None
    thinking: bool
    thinking_budget: int | None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def request_bounds(args: tuple[Any, ...], kwargs: Mapping[str, Any], *, thinking: bool) -> RequestBounds:
    """Read the bounds of one call; ``args`` after the first (DashScope's positional prompt) are input.

    One pass over the keywords the caller gave (a few), rather than a look-up of every known name."""
    messages: list[Any] = []
    extra: dict[str, Any] = {}
    found: dict[str, Any] = {}
    nested: list[Mapping[str, Any]] = []
    for key, value in kwargs.items():
        role = ROLES.get(key)
        if role is None or not value:
            continue
        if role == "messages" and isinstance(value, list | tuple):
            messages.extend(value)
        elif role == "messages":
            messages.append(value)
        elif role == "extra":
            extra[key] = value
        elif role == "nested":
            if isinstance(value, Mapping):
                nested.append(value)
        else:
            found.setdefault(role, value)
    for mapping in nested:  # the top-level keyword wins over the same name inside a mapping
        for key, value in mapping.items():
            role = ROLES.get(key)
            if role in ("max_tokens", "thinking_budget", "thinking") and value:
                found.setdefault(role, value)
    if len(args) > 1:
        extra["positional"] = list(args[1:])
    if not found:  # no output cap, no thinking asked for: the common short path
        return RequestBounds(messages, extra or None, None, thinking, None)
    budget = _count(found.get("thinking_budget"))
    thinks = thinking or bool(found.get("thinking"))
    anthropic = found.get("anthropic_thinking")
    if isinstance(anthropic, Mapping) and anthropic.get("type") == "enabled":
        thinks = True
        budget = budget or _count(anthropic.get("budget_tokens"))
    return RequestBounds(messages, extra or None, _count(found.get("max_tokens")), thinks, budget)
