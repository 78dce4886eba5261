"""What a call cost: resolves a model's price entry through the layers of architecture §10; applies it.

Resolution order: prices registered in code → the override file → the built-in data files (for the
call's provider) → genai-prices → unpriced. A provider without a data file of its own then still gets
the mainland DashScope prices for Qwen models reached through it (e.g. an OpenAI client pointed at a
DashScope-compatible proxy). Within a layer the entry in force at the call's time wins;
a layer with no entry in force yet (a price dated in the future) hands over to the next layer.
Resolution is memoised per ``(provider, model)``, with the entry in force and the span of time it
stays in force for; a quote is a dict look-up, a comparison and a few multiplications.
"""

from __future__ import annotations

import bisect
import math
import time

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import overrides
from ai_usage_monitor.pricing.catalogue import builtin_index, builtin_providers
from ai_usage_monitor.pricing.genai_prices_adapter import genai_prices_entries, warm_up
from ai_usage_monitor.pricing.matching import DASHSCOPE, candidate_names, normalise_provider
from ai_usage_monitor.pricing.models import ANY_PROVIDER, PriceEntry, PriceQuote, index_entries

__all__ = ["Pricer", "get_pricer"]

_Index = dict[tuple[str, str], tuple[PriceEntry, ...]]
_Layers = tuple[tuple[PriceEntry, ...], ...]

_MEMO_LIMIT = 4096


def _find(index: _Index, provider: str, names: tuple[str, ...]) -> tuple[PriceEntry, ...] | None:
    for name in names:
        hit = index.get((provider, name)) or index.get((ANY_PROVIDER, name))
        if hit:
            return hit
    return None


def _in_force(layers: _Layers, ts: float) -> PriceEntry | None:
    for layer in layers:
        for entry in reversed(layer):
            if entry.in_force(ts):
                return entry
    return None


#: one tier of an entry as ``quote`` needs it: (max input tokens, input, cached input, explicit-cache
#: hit, cache write, output, thinking output, price_ref), per the entry's unit in the entry's currency
_TierRates = tuple[int | None, float, float, float, float, float, float, str]
#: an entry as ``quote`` needs it: (unit, currency factor, batch factor, tiers)
_Rates = tuple[int, float, float, tuple[_TierRates, ...]]


def _rates(entry: PriceEntry, factors: dict[str, float]) -> _Rates:
    tiers = tuple(
        (
            tier.max_input_tokens,
            tier.input,
            tier.cached_price,
            tier.explicit_cached_price,
            tier.cache_write_price,
            tier.output,
            tier.output_price(True),
            ref,
        )
        for tier, ref in zip(entry.tiers, entry.refs, strict=True)
    )
    return entry.unit, factors[entry.currency], 1.0 if entry.batch is None else entry.batch, tiers


class _Resolution:
    """A model's price layers, and the last entry found in force with the times it stays in force between."""

    __slots__ = ("changes", "factors", "layers", "window")

    def __init__(self, layers: _Layers, factors: dict[str, float]) -> None:
        self.layers = layers
        self.factors = factors
        dated = not any(entry.daily_window for layer in layers for entry in layer)
        #: when the answer may change (effective dates); ``None``: also by time of day, never remembered
        self.changes = sorted({entry.effective_ts for layer in layers for entry in layer}) if dated else None
        #: ``(since, until, entry, its rates)``, replaced as a whole so that threads never see a torn one
        self.window: tuple[float, float, PriceEntry | None, _Rates | None] = (math.inf, -math.inf, None, None)

    def at(self, ts: float) -> tuple[PriceEntry | None, _Rates | None]:
        """The entry in force at ``ts`` and its rates (``None`` and ``None`` when unpriced)."""
        since, until, entry, rates = self.window
        if since <= ts < until:
            return entry, rates
        entry = _in_force(self.layers, ts)
        rates = _rates(entry, self.factors) if entry is not None else None
        changes = self.changes
        if changes is not None:
            i = bisect.bisect_right(changes, ts)
            self.window = (
                changes[i - 1] if i else -math.inf,
                changes[i] if i < len(changes) else math.inf,
                entry,
                rates,
            )
        return entry, rates


class Pricer:
    """Prices calls in ``settings.currency``; loads (and checks) ``settings.pricing_file`` at once."""

    def __init__(self, settings: Settings) -> None:
        self.currency: str = settings.currency
        self.usd_cny_rate: float = settings.usd_cny_rate
        self.pricing_file = settings.pricing_file
        file_entries = overrides.load_pricing_file(settings.pricing_file) if settings.pricing_file else ()
        self._file_index: _Index = index_entries(file_entries)
        rate = settings.usd_cny_rate
        #: multiply a cost in the key currency by this to get the configured currency
        self._factors = (
            {"CNY": 1.0, "USD": rate} if self.currency == "CNY" else {"CNY": 1.0 / rate, "USD": 1.0}
        )
        self._unpriced = PriceQuote(cost=0.0, currency=self.currency, priced=False, price_ref=None)
        self._memo: dict[tuple[str, str], _Resolution] = {}
        self._version = overrides.registry_version()

    def quote(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None = 0,
        reasoning_tokens: int | None = 0,
        cache_write_tokens: int | None = 0,
        thinking: bool = False,
        batch: bool = False,
        explicit_cache: bool = False,
        at: float | None = None,
    ) -> PriceQuote:
        """The cost of one call; tokens as recorded (input includes cached, output includes reasoning).

        The thinking-mode output price applies to all output tokens when ``thinking`` is true or the
        provider reported reasoning tokens, and the entry has such a price. Cached tokens bill at the
        explicit-cache hit price when ``explicit_cache`` is true or the call wrote to a cache (the two
        cache modes exclude each other per request). ``batch``: a batch call pays the entry's batch
        fraction of the full price, without cache discounts (DashScope's rule).
        """
        cost, price_ref = self.cost(
            provider,
            model,
            input_tokens,
            output_tokens,
            cached_tokens=cached_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_tokens=cache_write_tokens,
            thinking=thinking,
            batch=batch,
            explicit_cache=explicit_cache,
            at=at,
        )
        if price_ref is None:
            return self._unpriced
        return PriceQuote(cost=cost, currency=self.currency, priced=True, price_ref=price_ref)

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
        *,
        cached_tokens: int | None = 0,
        reasoning_tokens: int | None = 0,
        cache_write_tokens: int | None = 0,
        thinking: bool = False,
        batch: bool = False,
        explicit_cache: bool = False,
        at: float | None = None,
        tier_index: int | None = None,
    ) -> tuple[float, str | None]:
        """:meth:`quote` as ``(cost, price_ref)``, ``(0.0, None)`` when unpriced: the recorder's hot path.

        ``tier_index`` prices the call at that tier instead of the one its input falls in (what-if sums).
        """
        if input_tokens is None or output_tokens is None:
            return 0.0, None
        rates = self._resolution(provider, model).at(time.time() if at is None else at)[1]
        if rates is None:
            return 0.0, None
        unit, factor, batch_factor, tiers = rates
        if tier_index is not None:
            tier = tiers[tier_index]
        else:  # the first tier whose limit the input fits (only the last may have none), else the last
            for tier in tiers:
                if tier[0] is None or input_tokens <= tier[0]:
                    break
        _, input_price, cached_price, explicit_price, write_price, output_price, thinking_price, ref = tier
        cached = min(cached_tokens or 0, input_tokens)
        written = min(cache_write_tokens or 0, input_tokens - cached)
        if thinking or reasoning_tokens:
            output_price = thinking_price
        if batch:  # batch calls bill every input token at the batch price: no cache discounts
            cached_price = write_price = input_price
            factor *= batch_factor
        elif explicit_cache or written:
            cached_price = explicit_price
        cost = (
            (input_tokens - cached - written) * input_price
            + cached * cached_price
            + written * write_price
            + output_tokens * output_price
        )
        return cost / unit * factor, ref

    def price_entry(self, *, provider: str, model: str, at: float | None = None) -> PriceEntry | None:
        """The entry ``quote`` would use for this model at Unix time ``at`` (default now), if any."""
        return self._resolution(provider, model).at(time.time() if at is None else at)[0]

    def warm_up(self) -> None:
        """Read the data files and genai-prices' data now rather than on the first priced call."""
        builtin_index()
        warm_up()

    def _resolution(self, provider: str, model: str) -> _Resolution:
        version = overrides.registry_version()
        if version != self._version:
            self._memo = {}
            self._version = version
        key = (provider, model)
        resolution = self._memo.get(key)
        if resolution is None:
            resolution = _Resolution(self._resolve(provider, model), self._factors)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo = {}
            self._memo[key] = resolution
        return resolution

    def _resolve(self, provider: str, model: str) -> _Layers:
        provider = normalise_provider(provider)
        names = candidate_names(model)
        found = [
            _find(overrides.registered_index(), provider, names),
            _find(self._file_index, provider, names),
        ]
        builtin = builtin_index()
        if provider in builtin_providers():
            found.append(_find(builtin, provider, names))
        if provider != DASHSCOPE:
            found.append(genai_prices_entries(provider, model))
        if provider not in builtin_providers():
            found.append(_find(builtin, DASHSCOPE, names))
        return tuple(layer for layer in found if layer)


_pricers: dict[int, tuple[Settings, tuple[object, ...], Pricer]] = {}
_PRICERS_LIMIT = 32


def get_pricer(settings: Settings) -> Pricer:
    """The Pricer for these settings, built once per settings object (rebuilt if its pricing changed)."""
    fingerprint = (settings.currency, settings.usd_cny_rate, settings.pricing_file)
    cached = _pricers.get(id(settings))
    if cached is not None and cached[0] is settings and cached[1] == fingerprint:
        return cached[2]
    pricer = Pricer(settings)
    if len(_pricers) >= _PRICERS_LIMIT:
        _pricers.clear()
    _pricers[id(settings)] = (settings, fingerprint, pricer)
    return pricer
