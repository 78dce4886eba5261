"""Where an SDK client sends its calls (provider name, host, port), worked out once per base URL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ai_usage_monitor.providers import NO_HOSTS

__all__ = ["DEFAULT_PORTS", "NO_HOSTS", "Endpoint", "EndpointCache", "host_and_port"]

DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client sends its calls."""

    provider: str
    address: str | None
    port: int | None


def host_and_port(url: Any) -> tuple[str | None, int | None]:
    """The host of an httpx (or httpx2) URL and its port, the scheme's when the URL names none."""
    port = getattr(url, "port", None)
    if port is None:
        port = DEFAULT_PORTS.get(str(getattr(url, "scheme", "")))
    return str(getattr(url, "host", "") or "") or None, port


class EndpointCache:
    """``find(client, hosts)``, remembered per base URL object (a client's URL is replaced, never mutated),
    client type and ``provider_hosts`` setting: the hot path pays a dict look-up."""

    def __init__(self, find: Callable[[Any, Mapping[str, str]], Endpoint], limit: int = 256) -> None:
        self._find = find
        self._limit = limit
        #: by ``id`` of the URL: (that URL, the client's type, the setting, the endpoint); holding the URL
        #: keeps its id from being reused
        self._found: dict[int, tuple[Any, type[Any], Mapping[str, str], Endpoint]] = {}

    def get(self, client: Any, hosts: Mapping[str, str] = NO_HOSTS) -> Endpoint:
        # the attribute behind the ``base_url`` property, whose getter runs an import statement in SDK 3.x
        url = getattr(client, "_base_url", None)
        if url is None:
            url = getattr(client, "base_url", None)
        hit = self._found.get(id(url))
        if hit is not None and hit[0] is url and hit[1] is type(client) and hit[2] is hosts:
            return hit[3]
        endpoint = self._find(client, hosts)
        if len(self._found) >= self._limit:
            self._found.clear()
        self._found[id(url)] = (url, type(client), hosts, endpoint)
        return endpoint
