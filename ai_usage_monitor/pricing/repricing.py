"""The records seen through prices: models left unpriced, and every record re-priced under two catalogues.

Both read the index (``store/``); the JSONL stays the source of truth. Records without usage (a failed
call, a stream read elsewhere) have no tokens to price and are left out of both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.store.periods import last_days
from ai_usage_monitor.store.queries import advice_calls

if TYPE_CHECKING:
    from ai_usage_monitor.store.backend import Store

__all__ = ["BUILTIN", "ModelCosts", "UnpricedModel", "reprice", "unpriced_models"]

#: the name that stands for the built-in prices alone in ``pricing diff``
BUILTIN = "builtin"
_WITH_USAGE = "input_tokens IS NOT NULL AND output_tokens IS NOT NULL"


@dataclass(frozen=True, slots=True)
class UnpricedModel:
    """A ``(provider, model)`` whose calls were recorded without a price."""

    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    last_ts: float
    #: the ``price_ref`` the current prices would give its last call, if any (the records keep cost 0)
    priced_now: str | None


def unpriced_models(store: Store, days: int, pricer: Pricer) -> list[UnpricedModel]:
    """Unpriced models of the last ``days`` calendar days (today included), most tokens first."""
    rng = last_days(store.tz, days)[0]
    d = store.dialect
    rows = store.query(
        f"""SELECT coalesce(provider, '') AS p, coalesce(model, '') AS m, count(*), sum(input_tokens),
                   sum(output_tokens), max(ts)
            FROM {d.records} WHERE ts >= ? AND ts < ? AND NOT coalesce(priced, {d.false}) AND {_WITH_USAGE}
            GROUP BY p, m ORDER BY sum(input_tokens) + sum(output_tokens) DESC, p, m""",
        [rng.start, rng.end],
    )
    found = []
    for provider, model, calls, input_tokens, output_tokens, last_ts in rows:
        entry = pricer.price_entry(provider=provider, model=model, at=last_ts)
        now = entry.refs[0].split("#")[0] if entry is not None else None
        found.append(
            UnpricedModel(provider, model, calls, int(input_tokens), int(output_tokens), last_ts, now)
        )
    return found


@dataclass(slots=True)
class ModelCosts:
    """One ``(provider, model)``'s calls and their total cost under two sets of prices."""

    provider: str
    model: str
    calls: int = 0
    before: float = 0.0
    after: float = 0.0


def reprice(store: Store, days: int, before: Pricer, after: Pricer) -> list[ModelCosts]:
    """Each record of the last ``days`` calendar days priced by ``before`` and ``after``, per model; most
    change first.

    Reasoning tokens select the thinking price, as when the record was written; cache writes are not
    indexed and count as plain input.
    """
    costs: dict[tuple[str, str], ModelCosts] = {}
    for call in advice_calls(store, last_days(store.tz, days)[0]):
        provider, model, _, ts, input_tokens, output_tokens, cached, reasoning = call[:8]
        if input_tokens is None or output_tokens is None:
            continue
        key = (provider, model)
        row = costs.get(key)
        if row is None:
            row = costs[key] = ModelCosts(provider, model)
        row.calls += 1
        tokens = (provider, model, input_tokens, output_tokens)
        row.before += before.cost(*tokens, cached_tokens=cached, reasoning_tokens=reasoning, at=ts)[0]
        row.after += after.cost(*tokens, cached_tokens=cached, reasoning_tokens=reasoning, at=ts)[0]
    return sorted(costs.values(), key=lambda r: (-abs(r.after - r.before), r.provider, r.model))
