"""The compiled input bound (``_text_bytes.c``) gives ``input_token_bound``'s Python loop's number for every
list of text messages, and leaves every other shape to that loop."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ai_usage_monitor.budgets import worst_case
from ai_usage_monitor.budgets.worst_case import (
    COMPILED_BOUND,
    MESSAGE_OVERHEAD_TOKENS,
    REQUEST_OVERHEAD_TOKENS,
    input_token_bound,
)

#: one character of each UTF-8 length (1 to 4 bytes), Latin-1's upper half, and a lone surrogate
ALPHABET = ["a", " ", "é", "ÿ", "ж", "弹", "幕", "€", "😀", "\U0010ffff", "\ud800", "\udfff", "\x7f", "\x80"]


def python_bound(messages: list[Any]) -> int:
    """The Python loop's answer (the compiled measure switched off)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worst_case, "COMPILED_BOUND", None)
        return input_token_bound(messages)


def test_the_compiled_bound_is_built() -> None:
    assert COMPILED_BOUND is not None, "budgets._text_bytes was not built: reinstall with a C compiler"


def test_random_text_messages_measure_alike() -> None:
    assert COMPILED_BOUND is not None
    rng = random.Random(7)
    for _ in range(300):
        messages = []
        for _ in range(rng.randrange(0, 5)):
            # strings of one storage width (ASCII, Latin-1, 2-byte, 4-byte) and mixed ones
            pool = rng.choice([ALPHABET[:2], ALPHABET[:4], ALPHABET[:8], ALPHABET])
            text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 40)))
            message: dict[str, Any] = {"role": rng.choice(["user", "system", "assistant"]), "content": text}
            if rng.random() < 0.3:
                message["name"] = "主播" * rng.randrange(0, 3)
            messages.append(message)
        expected = python_bound(messages)
        assert COMPILED_BOUND(messages, REQUEST_OVERHEAD_TOKENS, MESSAGE_OVERHEAD_TOKENS) == expected
        assert input_token_bound(messages) == expected
        assert expected == REQUEST_OVERHEAD_TOKENS + sum(
            MESSAGE_OVERHEAD_TOKENS
            + sum(len(v.encode("utf-8", "surrogatepass")) for k, v in m.items() if k != "role")
            for m in messages
        )


class Text(str):
    """A str subclass: measured by the Python loop."""


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],  # parts
        [{"role": "user", "content": Text("hi")}],
        [{"role": "user", "content": None}],
        ["a prompt"],
        [{1: "a key that is not a string"}],
        [{"role": 3, "content": "hi"}, "x"],
    ],
)
def test_other_shapes_are_left_to_the_python_loop(messages: list[Any]) -> None:
    assert COMPILED_BOUND is not None
    assert COMPILED_BOUND(messages, REQUEST_OVERHEAD_TOKENS, MESSAGE_OVERHEAD_TOKENS) is None
    assert input_token_bound(messages) == python_bound(messages)


def test_a_role_of_any_type_is_not_counted() -> None:
    assert COMPILED_BOUND is not None
    messages = [{"role": 3, "content": "hi"}]
    assert COMPILED_BOUND(messages, 0, 0) == 2
    assert python_bound(messages) == REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS + 2
