"""A click: the request parsed once at the edge, and the event it becomes.

Only what the loader needs leaves the edge, trimmed to fixed lengths. The client address
is keyed into `ip_ref` and the Referer cut to its scheme and host right here, so no raw
address and no referring page's path or query is ever written to Redis, ClickHouse or a
log; everything else (user-agent parsing, bot classification) is the loader's work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, NamedTuple

from tracker.events.click import referer_origin

MAX_USER_AGENT = 512
MAX_REFERER = 1024
MAX_PURPOSE = 64


def new_click_id() -> str:
    """128 random bits, URL-safe base64 without padding: 22 characters."""
    return secrets.token_urlsafe(16)


class IpKeyer:
    """`ip_ref`: hex HMAC-SHA256 (128 bits) of the client address under TRACKER_SECRET.

    Refs of recent addresses are memoised (repeat taps, carrier NAT) in process memory only.
    """

    def __init__(self, secret: str, remembered: int = 65_536) -> None:
        self._mac = hmac.new(secret.encode(), b"ip:", hashlib.sha256)
        self._refs: dict[str, str] = {}
        self._remembered = remembered

    def ref(self, address: str) -> str:
        ref = self._refs.get(address)
        if ref is None:
            if not address:
                return ""
            mac = self._mac.copy()
            mac.update(address.encode())
            ref = mac.hexdigest()[:32]
            if len(self._refs) >= self._remembered:
                self._refs.clear()
            self._refs[address] = ref
        return ref


class ClickRequest(NamedTuple):
    """Immutable; a NamedTuple because it is built on every redirect and is cheaper than a frozen dataclass."""

    method: str
    user_agent: str
    referer: str
    purpose: str
    client: str

    @classmethod
    def from_scope(cls, scope: Any) -> ClickRequest:
        user_agent = referer = purpose = b""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value
            elif name == b"referer":
                referer = value
            elif name in (b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"):
                purpose = value
        client = scope.get("client")
        return cls(
            method=scope["method"],
            user_agent=user_agent[:MAX_USER_AGENT].decode("latin-1"),
            referer=referer_origin(referer[:MAX_REFERER]) if referer else "",
            purpose=purpose[:MAX_PURPOSE].decode("latin-1"),
            client=client[0] if client else "",
        )
