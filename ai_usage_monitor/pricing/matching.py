"""Model and provider name normalisation: exact names, then the name without a dated snapshot suffix.

Never longest-prefix guessing: ``qwen-plus-character`` is a different model from ``qwen-plus``.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["DASHSCOPE", "candidate_names", "normalise_provider", "strip_snapshot_suffix"]

DASHSCOPE = "dashscope"

#: Other names people give Alibaba Cloud Model Studio; OpenTelemetry's Azure name maps to genai-prices'.
_PROVIDER_ALIASES = {
    "alibaba": DASHSCOPE,
    "aliyun": DASHSCOPE,
    "bailian": DASHSCOPE,
    "model-studio": DASHSCOPE,
    "azure.ai.openai": "azure",
}

_SNAPSHOT_SUFFIX = re.compile(
    r"^(?P<base>.+?)-(?:"
    r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"  # -2025-07-14
    r"|(?P<cy>\d{4})(?P<cm>\d{2})(?P<cd>\d{2})"  # -20250514
    r"|(?P<mm>\d{2})(?P<dd>\d{2})"  # -0919
    r"|latest)$"
)


def normalise_provider(provider: str) -> str:
    name = provider.strip().lower()
    return _PROVIDER_ALIASES.get(name, name)


def strip_snapshot_suffix(model: str) -> str | None:
    """The base name of a dated snapshot (``gpt-4o-2024-08-06`` → ``gpt-4o``), else ``None``."""
    match = _SNAPSHOT_SUFFIX.match(model)
    if match is None:
        return None
    groups = match.groupdict()
    if groups["y"] is not None:
        year, month, day = int(groups["y"]), int(groups["m"]), int(groups["d"])
    elif groups["cy"] is not None:
        year, month, day = int(groups["cy"]), int(groups["cm"]), int(groups["cd"])
    elif groups["mm"] is not None:
        year, month, day = 2000, int(groups["mm"]), int(groups["dd"])  # a leap year, so 0229 is valid
    else:
        return match["base"]
    try:
        date(year, month, day)
    except ValueError:
        return None
    return match["base"]


def candidate_names(model: str) -> tuple[str, ...]:
    """Names to look a model up by, in order: the exact (lower-cased) name, then its snapshot base."""
    name = model.strip().lower()
    base = strip_snapshot_suffix(name)
    return (name,) if base is None else (name, base)
