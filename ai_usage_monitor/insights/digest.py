"""The daily and weekly digest as pure functions: which days it covers, its de-duplication key, and the
message (markdown body, in Chinese or English) built from figures the store already answered.

The figures are gathered by ``digest_facts``; when and where the message goes is ``digest_schedule``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from ai_usage_monitor.budgets.status import ratio_of
from ai_usage_monitor.insights.advice import Advice
from ai_usage_monitor.notify.message import Language, Message

__all__ = [
    "TOP_N",
    "BudgetUse",
    "DigestFacts",
    "DigestKind",
    "DigestPeriod",
    "ForecastLine",
    "Ranked",
    "build_digest",
    "digest_period",
    "money",
]

DigestKind = Literal["daily", "weekly"]
#: Entries of each top list and advice items shown.
TOP_N = 3
_WEEK = 7


@dataclass(frozen=True, slots=True)
class DigestPeriod:
    """The local days a digest covers (``first``..``last``, inclusive) and its de-duplication key."""

    kind: DigestKind
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def key(self) -> str:
        """``digest:daily:<last day>`` or ``digest:weekly:<ISO week of the last day>``."""
        if self.kind == "daily":
            return f"digest:daily:{self.last.isoformat()}"
        iso = self.last.isocalendar()
        return f"digest:weekly:{iso.year}-W{iso.week:02d}"

    def earlier(self) -> DigestPeriod:
        """The same days one week before (what the change is measured against)."""
        return DigestPeriod(self.kind, self.first - timedelta(days=_WEEK), self.last - timedelta(days=_WEEK))


def digest_period(kind: DigestKind, today: date) -> DigestPeriod:
    """What a digest sent on local day ``today`` covers: yesterday, or the 7 days ending yesterday."""
    last = today - timedelta(days=1)
    return DigestPeriod(kind, last - timedelta(days=_WEEK - 1) if kind == "weekly" else last, last)


@dataclass(frozen=True, slots=True)
class Ranked:
    """One entry of a top list: a model, function or anchor, its cost and calls in the period."""

    name: str
    cost: float
    calls: int


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """A budget counter of the current period at or past the budget's lowest threshold."""

    name: str
    scope_value: str
    period: str
    spent: float
    limit: float

    @property
    def ratio(self) -> float:
        return ratio_of(self.spent, self.limit)


@dataclass(frozen=True, slots=True)
class ForecastLine:
    """The team's month-end forecast with its 80% band, and the method that answered."""

    month: str
    month_to_date: float
    expected: float
    low: float
    high: float
    method: str


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """Every figure of one digest, as the store answered them."""

    period: DigestPeriod
    currency: str
    spent: float
    calls: int
    #: spend of the same days one week earlier
    previous_spent: float
    #: spend from the first of the last day's month to the end of the last day
    month_to_date: float
    top_models: tuple[Ranked, ...]
    top_functions: tuple[Ranked, ...]
    top_anchors: tuple[Ranked, ...]
    forecast: ForecastLine | None
    budgets: tuple[BudgetUse, ...]
    advice: tuple[Advice, ...]

    @property
    def change(self) -> float | None:
        """(spent − previous) ÷ previous; ``None`` when the week before cost nothing."""
        return None if self.previous_spent <= 0 else (self.spent - self.previous_spent) / self.previous_spent


_TEXT: dict[str, dict[Language, str]] = {
    "daily": {"zh": "AI 用量日报 {day}", "en": "AI usage daily digest {day}"},
    "weekly": {"zh": "AI 用量周报 {first} – {last}", "en": "AI usage weekly digest {first} – {last}"},
    "spent_daily": {"zh": "昨日花费", "en": "Spent yesterday"},
    "spent_weekly": {"zh": "近 7 日花费", "en": "Spent in the 7 days"},
    "calls": {"zh": "{n:,} 次调用", "en": "{n:,} calls"},
    "call": {"zh": "{n:,} 次调用", "en": "{n:,} call"},
    "vs_daily": {"zh": "较上周同日", "en": "vs the same day last week"},
    "vs_weekly": {"zh": "较前一周", "en": "vs the week before"},
    "no_base": {"zh": "上周同期无花费", "en": "nothing spent the week before"},
    "mtd": {"zh": "本月至今（截至 {day}）", "en": "Month to date (through {day})"},
    "forecast": {"zh": "{month} 月末预测", "en": "Forecast for the end of {month}"},
    "band": {
        "zh": "80% 区间 {low} – {high}，方法 {method}",
        "en": "80% band {low} – {high}, method {method}",
    },
    "models": {"zh": "花费最多的模型", "en": "Top models"},
    "functions": {"zh": "花费最多的功能", "en": "Top functions"},
    "anchors": {"zh": "花费最多的主播", "en": "Top anchors"},
    "none": {"zh": "无", "en": "none"},
    "budgets": {"zh": "接近上限的预算", "en": "Budgets near their limit"},
    "advice": {"zh": "省钱建议", "en": "Ways to spend less"},
    "saves": {"zh": "每月约省 {amount}", "en": "saves about {amount} a month"},
    "cheaper_model": {"zh": "改用 {to_model}（现为 {model}）", "en": "use {to_model} instead of {model}"},
    "thinking": {"zh": "关闭 {model} 的思考模式", "en": "turn thinking off on {model}"},
    "context_tier": {
        "zh": "让 {model} 的输入留在计价阶梯内",
        "en": "keep {model}'s inputs under the price tier",
    },
    "cache": {"zh": "提高 {model} 长输入的缓存命中", "en": "cache more of {model}'s long inputs"},
    "failures": {"zh": "减少 {model} 的失败调用", "en": "cut the failed calls to {model}"},
    "all_functions": {"zh": "全部功能", "en": "all functions"},
}


def _t(name: str, language: Language, **values: object) -> str:
    return _TEXT[name][language].format(**values)


def money(value: float, currency: str) -> str:
    """An amount with its currency's sign; 4 decimals below 1 so that small spend stays visible."""
    symbol = {"CNY": "¥", "USD": "$"}.get(currency, "")
    figure = f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"
    return f"{symbol}{figure}" if symbol else f"{figure} {currency}"


def _change(facts: DigestFacts, language: Language) -> str:
    change = facts.change
    if change is None:
        return _t("no_base", language)
    vs = _t(f"vs_{facts.period.kind}", language)
    return f"{vs} {change * 100:+.1f}% ({money(facts.previous_spent, facts.currency)})"


def _top(title: str, rows: Sequence[Ranked], facts: DigestFacts, language: Language) -> list[str]:
    lines = [f"**{_t(title, language)}**"]
    if not rows:
        return [*lines, f"- {_t('none', language)}"]
    total = facts.spent
    for i, row in enumerate(rows, 1):
        share = f", {row.cost / total * 100:.0f}%" if total > 0 else ""
        calls = _t("call" if row.calls == 1 else "calls", language, n=row.calls)
        lines.append(f"{i}. {row.name}: {money(row.cost, facts.currency)} ({calls}{share})")
    return lines


def _advice_line(item: Advice, currency: str, language: Language) -> str:
    what = _t(item.kind, language, model=item.model, to_model=item.to_model or "")
    where = item.function or _t("all_functions", language)
    return f"{where}: {what}, {_t('saves', language, amount=money(item.monthly_saving, currency))}"


def build_digest(facts: DigestFacts, language: Language) -> Message:
    """The digest as a notification: a title and a markdown body (robots render it, e-mail shows it)."""
    period, cur = facts.period, facts.currency
    title = _t(
        period.kind, language, day=period.last.isoformat(), first=period.first.isoformat(), last=period.last
    )
    calls = _t("call" if facts.calls == 1 else "calls", language, n=facts.calls)
    lines = [
        f"- **{_t(f'spent_{period.kind}', language)}**: {money(facts.spent, cur)} ({calls}), "
        f"{_change(facts, language)}",
        f"- **{_t('mtd', language, day=period.last.isoformat())}**: {money(facts.month_to_date, cur)}",
    ]
    if facts.forecast is not None:
        fc = facts.forecast
        band = _t("band", language, low=money(fc.low, cur), high=money(fc.high, cur), method=fc.method)
        lines.append(f"- **{_t('forecast', language, month=fc.month)}**: {money(fc.expected, cur)} ({band})")
    for title_key, rows in (
        ("models", facts.top_models),
        ("functions", facts.top_functions),
        ("anchors", facts.top_anchors),
    ):
        lines += ["", *_top(title_key, rows, facts, language)]
    if facts.budgets:
        lines += ["", f"**{_t('budgets', language)}**"]
        for use in facts.budgets:
            scope = f" [{use.scope_value}]" if use.scope_value else ""
            lines.append(
                f"- {use.name}{scope} ({use.period}): {money(use.spent, cur)} / {money(use.limit, cur)} "
                f"({use.ratio * 100:.0f}%)"
            )
    if facts.advice:
        lines += ["", f"**{_t('advice', language)}**"]
        lines += [f"{i}. {_advice_line(item, cur, language)}" for i, item in enumerate(facts.advice, 1)]
    body = "\n".join(lines)
    # the markdown here is bold labels only: without them the lists read as plain text (e-mail)
    plain = body.replace("**", "")
    return Message(key=period.key, title=title, body=body, language=language, currency=cur, text_body=plain)
