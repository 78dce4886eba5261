"""Which catalogue models may stand in for another: same provider, same kind of model.

The catalogue prices models but does not say what they do, so the kind is read from the model's name
(the providers name their families consistently): embedding, rerank, translation (``-mt-``), vision
(``-vl-``), coder, speech and OCR models only replace models of their own kind; every other model is a
general chat model. A chat function is thus never told to move to a translation or embedding model.
"""

from __future__ import annotations

import re
from functools import cache

from ai_usage_monitor.pricing.catalogue import builtin_entries
from ai_usage_monitor.pricing.matching import candidate_names, normalise_provider

__all__ = ["CHAT", "model_kind", "same_kind_models"]

CHAT = "chat"
#: (kind, pattern on the lower-case model name), first match wins
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("embedding", re.compile(r"embed")),
    ("rerank", re.compile(r"rerank")),
    ("translation", re.compile(r"(^|-)mt(-|$)")),
    ("vision", re.compile(r"(^|-)vl(-|$)|vision|(^|-)ocr(-|$)")),
    ("coder", re.compile(r"coder")),
    ("speech", re.compile(r"audio|asr|tts|omni")),
)


def model_kind(model: str) -> str:
    """The kind of model a name says (``chat`` unless it names a specialised family)."""
    name = model.strip().lower()
    for kind, pattern in _KINDS:
        if pattern.search(name):
            return kind
    return CHAT


@cache
def same_kind_models(provider: str, model: str) -> tuple[str, ...]:
    """The other models the built-in catalogue prices for ``provider`` of ``model``'s kind, sorted."""
    provider = normalise_provider(provider)
    own = set(candidate_names(model))
    kind = model_kind(model)
    names = {
        entry.model
        for entry in builtin_entries()
        if entry.provider == provider and entry.model not in own and model_kind(entry.model) == kind
    }
    return tuple(sorted(names))
