"""What the fake provider answers: the ``[[fake ...]]`` directive, the usage and the answer text.

Pure functions, so the fake's behaviour is deterministic and can be unit-tested without a server.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "DEFAULT_ANSWER",
    "Directive",
    "DirectiveError",
    "Plan",
    "answer_pieces",
    "content_text",
    "embedding_vector",
    "estimate_tokens",
    "make_plan",
    "messages_text",
    "parse_directive",
    "response_model",
]

DEFAULT_ANSWER = "This is a fake answer from the local provider."
DEFAULT_CHUNKS = 3
DEFAULT_THINKING_REASONING_TOKENS = 12
PROMPT_OVERHEAD_TOKENS = 4

_DIRECTIVE = re.compile(r"\[\[fake\b([^\]]*)\]\]")

# Requested alias -> the dated snapshot OpenAI reports as `response.model`.
_OPENAI_SNAPSHOTS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
}


class DirectiveError(ValueError):
    """A ``[[fake ...]]`` directive the fake cannot honour (unknown key, non-integer value)."""


@dataclass(frozen=True)
class Directive:
    """Values asked for by a ``[[fake key=value ...]]`` directive; ``None`` means not given.

    Token keys set the usage (``completion_tokens`` includes ``reasoning_tokens``, ``prompt_tokens``
    includes ``cached_tokens`` and ``cache_write_tokens``, the input written to a prompt cache, as
    Anthropic's cache creation). ``chunks``: content chunks (frames) of a stream. ``error``: answer that
    HTTP status. ``stream_error_after=N``: a stream sends N content chunks, then an error event.
    ``delay_ms``: sleep before answering and between stream frames. ``details=0``: OpenAI usage
    without its ``*_tokens_details`` objects.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    chunks: int | None = None
    error: int | None = None
    stream_error_after: int | None = None
    delay_ms: int | None = None
    details: int | None = None
    cache_write_tokens: int | None = None


_KEYS = frozenset(f.name for f in fields(Directive))


@dataclass(frozen=True)
class Plan:
    """Everything one fake answer needs: token counts, answer pieces (one per stream chunk), events."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    pieces: tuple[str, ...]
    error: int | None = None
    stream_error_after: int | None = None
    delay_s: float = 0.0
    details: bool = True
    thinking: bool = False
    cache_write_tokens: int = 0

    @property
    def answer(self) -> str:
        return "".join(self.pieces)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def output_tokens_after(self, sent: int) -> int:
        """Cumulative output tokens once ``sent`` of the pieces went out (exact at the last one)."""
        return math.ceil(self.completion_tokens * sent / len(self.pieces))

    def reasoning_tokens_after(self, sent: int) -> int:
        return math.ceil(self.reasoning_tokens * sent / len(self.pieces))

    def streamed_pieces(self) -> tuple[str, ...]:
        """The pieces a stream sends before it ends, cut short by ``stream_error_after``."""
        if self.stream_error_after is None:
            return self.pieces
        return self.pieces[: self.stream_error_after]


def parse_directive(text: str) -> Directive | None:
    """The last ``[[fake ...]]`` directive in ``text``, or ``None`` when there is none."""
    matches = _DIRECTIVE.findall(text)
    if not matches:
        return None
    values: dict[str, int] = {}
    for token in matches[-1].split():
        key, sep, raw = token.partition("=")
        if not sep or key not in _KEYS:
            raise DirectiveError(f"fake directive: unknown item {token!r}; keys are {sorted(_KEYS)}")
        try:
            values[key] = int(raw)
        except ValueError:
            raise DirectiveError(f"fake directive: {key} needs an integer, got {raw!r}") from None
    return Directive(**values)


def estimate_tokens(text: str) -> int:
    """A deterministic, never-zero token count for ``text`` (about four characters a token)."""
    return len(text) // 4 + 1


def answer_pieces(chunks: int) -> tuple[str, ...]:
    """The fixed answer split into ``chunks`` non-empty pieces (padded with words when too short)."""
    words = DEFAULT_ANSWER.split(" ")
    words += ["more"] * max(0, chunks - len(words))
    per, extra = divmod(len(words), chunks)
    pieces: list[str] = []
    start = 0
    for i in range(chunks):
        end = start + per + (1 if i < extra else 0)
        piece = " ".join(words[start:end])
        pieces.append(piece if i == 0 else " " + piece)
        start = end
    return tuple(pieces)


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-range vector for ``text`` (same text, same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(digest[i % len(digest)] / 127.5 - 1.0, 6) for i in range(dimensions)]


def make_plan(text: str, *, thinking: bool = False) -> Plan:
    """The plan for a request whose text is ``text``: the directive's values, else derived ones."""
    d = parse_directive(text) or Directive()
    chunks = max(1, d.chunks if d.chunks is not None else DEFAULT_CHUNKS)
    pieces = answer_pieces(chunks)
    reasoning = d.reasoning_tokens
    if reasoning is None:
        reasoning = DEFAULT_THINKING_REASONING_TOKENS if thinking else 0
    completion = d.completion_tokens
    if completion is None:
        completion = estimate_tokens("".join(pieces)) + reasoning
    prompt = (
        d.prompt_tokens if d.prompt_tokens is not None else estimate_tokens(text) + PROMPT_OVERHEAD_TOKENS
    )
    return Plan(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=d.cached_tokens or 0,
        reasoning_tokens=reasoning,
        pieces=pieces,
        error=d.error,
        stream_error_after=d.stream_error_after,
        delay_s=(d.delay_ms or 0) / 1000.0,
        details=d.details != 0,
        thinking=thinking or reasoning > 0,
        cache_write_tokens=d.cache_write_tokens or 0,
    )


def content_text(content: Any) -> str:
    """Text of a message content: a string, or a list of parts (OpenAI ``text``/``input_text``, DashScope)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(content_text(part) for part in content)
    if isinstance(content, dict):
        text = content.get("text")
        if isinstance(text, str):
            return text
        return content_text(content.get("content"))
    return ""


def messages_text(messages: Iterable[Any]) -> str:
    """All text of a list of chat messages (or Responses input items), joined by newlines."""
    return "\n".join(content_text(m.get("content") if isinstance(m, dict) else m) for m in messages)


def response_model(requested: str) -> str:
    """The model name a provider reports back: OpenAI's dated snapshot for a known alias, else as asked."""
    return _OPENAI_SNAPSHOTS.get(requested, requested)
