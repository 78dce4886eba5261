"""Every price a model name has, across providers: ``pricing show`` without ``--provider``."""

from __future__ import annotations

from ai_usage_monitor.config import Settings
from ai_usage_monitor.pricing import overrides
from ai_usage_monitor.pricing.matching import DASHSCOPE, normalise_provider
from ai_usage_monitor.pricing.models import ANY_PROVIDER, PriceEntry
from ai_usage_monitor.pricing.pricer import Pricer
from ai_usage_monitor.providers import PROVIDER_AZURE, PROVIDER_HOSTS

__all__ = ["candidate_providers", "find_prices"]


def _genai_prices_providers() -> list[str]:
    from genai_prices.data import providers

    return [provider.id for provider in providers]


def candidate_providers(settings: Settings) -> list[str]:
    """Provider names worth asking about, the ones the instrumentation emits first."""
    named = [DASHSCOPE, *PROVIDER_HOSTS.values(), PROVIDER_AZURE, *settings.provider_hosts.values()]
    entries: list[PriceEntry] = [e for group in overrides.registered_index().values() for e in group]
    if settings.pricing_file is not None:
        entries += overrides.load_pricing_file(settings.pricing_file)
    named += sorted({e.provider for e in entries if e.provider != ANY_PROVIDER})
    named += _genai_prices_providers()
    return list(dict.fromkeys(named))


def find_prices(
    pricer: Pricer, settings: Settings, model: str, at: float | None = None
) -> list[tuple[str, PriceEntry]]:
    """``(provider, entry)`` for every distinct entry some provider would price ``model`` with.

    An entry reached through several providers (e.g. a Qwen price every provider falls back to) is
    listed once, under its own provider when that is one of them.
    """
    found: dict[str, tuple[str, PriceEntry]] = {}
    for provider in candidate_providers(settings):
        entry = pricer.price_entry(provider=provider, model=model, at=at)
        if entry is None:
            continue
        ref = entry.refs[0]
        own = normalise_provider(provider) == entry.provider
        if ref not in found or (own and normalise_provider(found[ref][0]) != entry.provider):
            found[ref] = (provider, entry)
    return list(found.values())
