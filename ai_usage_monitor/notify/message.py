"""One notification, rendered per channel: a title, a markdown body, labelled facts in Chinese or English."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Language", "Message", "Severity", "clip_utf8"]

Language = Literal["zh", "en"]
Severity = Literal["info", "warning", "critical", "resolved"]

#: Labels of the standard facts, per language, in the order they are shown.
_LABELS: dict[str, dict[str, str]] = {
    "budget": {"zh": "预算", "en": "Budget"},
    "scope_value": {"zh": "范围", "en": "Scope"},
    "spent": {"zh": "已花费", "en": "Spent"},
    "limit": {"zh": "额度", "en": "Limit"},
    "period": {"zh": "周期", "en": "Period"},
    "forecast": {"zh": "周期末预测", "en": "Forecast end of period"},
}
_DASHBOARD = {"zh": "查看看板", "en": "Open the dashboard"}


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (robots refuse longer messages), marked with "…"."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", "ignore") + "…"


def _amount(value: float, currency: str) -> str:
    symbol = {"CNY": "¥", "USD": "$"}.get(currency, "")
    return f"{symbol}{value:,.2f}" if symbol else f"{value:,.2f} {currency}"


@dataclass(frozen=True, slots=True)
class Message:
    """What to tell people. ``key`` de-duplicates: one delivery per key and channel, ever.

    E.g. ``Message(key="budget:daily-total:2026-12-07:0.8", title="今日预算已用 80%", spent=40.1, limit=50)``.
    """

    key: str
    title: str
    body: str = ""
    language: Language = "zh"
    severity: Severity = "info"
    budget: str | None = None
    scope_value: str | None = None
    spent: float | None = None
    limit: float | None = None
    currency: str = "CNY"
    period: str | None = None
    forecast: float | None = None
    link: str | None = None
    #: More labelled facts, shown after the standard ones (e.g. an alert's labels).
    extra: Mapping[str, str] = field(default_factory=dict)
    #: ``body`` without markdown, for the text and HTML renderings (e-mail, log); empty: ``body`` itself.
    text_body: str = ""

    def __post_init__(self) -> None:
        if not self.key.strip():
            raise ValueError("a message needs a non-empty de-duplication key")

    def facts(self) -> list[tuple[str, str]]:
        """The labelled facts that are set, in the message's language."""
        values: dict[str, str | None] = {
            "budget": self.budget,
            "scope_value": self.scope_value,
            "spent": None if self.spent is None else _amount(self.spent, self.currency),
            "limit": None if self.limit is None else _amount(self.limit, self.currency),
            "period": self.period,
            "forecast": None if self.forecast is None else _amount(self.forecast, self.currency),
        }
        shown = [(_LABELS[name][self.language], value) for name, value in values.items() if value]
        return shown + [(label, value) for label, value in self.extra.items()]

    @property
    def plain_body(self) -> str:
        return self.text_body or self.body

    @property
    def link_label(self) -> str:
        return _DASHBOARD[self.language]

    def markdown(self, *, heading: str = "### ", link: bool = True) -> str:
        """Title, body, facts as a list and the dashboard link, in common markdown."""
        lines = [f"{heading}{self.title}"]
        if self.body:
            lines += ["", self.body]
        facts = self.facts()
        if facts:
            lines += [""] + [f"- **{label}**: {value}" for label, value in facts]
        if link and self.link:
            lines += ["", f"[{self.link_label}]({self.link})"]
        return "\n".join(lines)

    def text(self) -> str:
        """Plain text: for e-mail bodies, the log and robots without markdown."""
        lines = [self.title]
        if self.plain_body:
            lines += ["", self.plain_body]
        facts = self.facts()
        if facts:
            lines += [""] + [f"{label}: {value}" for label, value in facts]
        if self.link:
            lines += ["", f"{self.link_label}: {self.link}"]
        return "\n".join(lines)

    def html(self) -> str:
        """A small HTML page (e-mail): title, body as preformatted text, facts as a table, the link."""
        esc = html.escape
        parts = [f"<h3>{esc(self.title)}</h3>"]
        if self.plain_body:
            parts.append(f'<p style="white-space:pre-wrap">{esc(self.plain_body)}</p>')
        rows = "".join(f"<tr><th align=left>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self.facts())
        if rows:
            parts.append(f"<table>{rows}</table>")
        if self.link:
            parts.append(f'<p><a href="{esc(self.link, quote=True)}">{esc(self.link_label)}</a></p>')
        return "<html><body>" + "".join(parts) + "</body></html>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the generic webhook's payload, and how the outbox stores a message)."""
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
