"""The short domain a request is for: a code is looked up on the request's Host.

The Host header is lower-cased and its port dropped (IPv6 literals keep their brackets); a host that
is none of ours (an IP address, a load balancer's health check, a typo) falls back to the default
domain, so links of the default domain answer however they are reached. Browsers send IDN hosts in
punycode, the form `Settings.short_domains` holds them in. Hosts seen are remembered (bounded), so a
request costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REMEMBERED = 4096


class HostDomains:
    def __init__(self, domains: Sequence[str]) -> None:
        """`domains`: every short domain, the default first (`Settings.domains`)."""
        self.default = domains[0]
        self._ours = frozenset(domains)
        self._seen: dict[bytes, str] = {}

    def of(self, scope: Any) -> str:
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        domain = self._seen.get(host)
        if domain is None:
            domain = self.of_host(host.decode("latin-1"))
            if len(self._seen) >= REMEMBERED:
                self._seen.clear()
            self._seen[host] = domain
        return domain

    def of_host(self, host: str) -> str:
        name = host.strip().lower()
        # "[::1]:8080" keeps its brackets; "go.shop.example:443" loses its port.
        name = name[:name.find("]") + 1] if name.startswith("[") else name.partition(":")[0]
        name = name.rstrip(".")
        return name if name in self._ours else self.default
