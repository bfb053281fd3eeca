"""Who may look at the dashboard: signed session cookies, the Basic password, and where a login may lead.

A person logs in once through a form and gets a session cookie holding a signed, expiring token (never the
key); scripts may send the key as the password of `Authorization: Basic`, or as `Authorization: Bearer <key>` exactly as
they call the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SESSION_COOKIE = "tracker_session"
SESSION_TTL = 12 * 3600


class Sessions:
    """Session tokens `v1.<key id>.<expiry>.<nonce>.<mac>`, HMAC-SHA256 under a key derived from TRACKER_SECRET.

    Stateless, so any admin replica accepts them. The key id is a MAC of the API key that logged in: removing that
    key from TRACKER_API_KEYS ends its sessions, and the token tells nothing about the key itself.
    """

    def __init__(self, secret: str, keys: Sequence[str], ttl: int = SESSION_TTL) -> None:
        self._mac_key = hmac.new(secret.encode(), b"tracker dashboard session", hashlib.sha256).digest()
        self._key_ids = frozenset(self.key_id(key) for key in keys)
        self.ttl = ttl

    def key_id(self, key: str) -> str:
        return self._sign("key:" + key)[:16]

    def issue(self, key: str, now: float) -> str:
        payload = f"v1.{self.key_id(key)}.{int(now) + self.ttl}.{secrets.token_urlsafe(9)}"
        return f"{payload}.{self._sign(payload)}"

    def valid(self, token: str, now: float) -> bool:
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1" or not parts[2].isdigit():
            return False
        payload = ".".join(parts[:4])
        signed = hmac.compare_digest(self._sign(payload), parts[4])
        return signed and parts[1] in self._key_ids and int(parts[2]) > now

    def _sign(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()


def basic_password(authorization: str) -> str | None:
    """The password of a Basic header (any user name); None when the header is not Basic, '' when unreadable."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""
    _, colon, password = decoded.partition(":")
    return password if colon else ""


def header_key(authorization: str) -> str | None:
    """The API key an Authorization header carries: a Bearer token (as the API takes it) or the Basic password.
    None when the header carries neither scheme, '' when it is unreadable."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    return basic_password(authorization)


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of the dashboard only, so the form is no open redirect."""
    if (target.startswith("/reports") and not target.startswith(("/reports/login", "/reports/logout"))
            and len(target) <= 2000 and "\\" not in target and target.isprintable()):
        return target
    return "/reports"
