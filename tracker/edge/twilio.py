"""Twilio's request signature (`X-Twilio-Signature`), checked over the request exactly as it arrived.

Twilio signs base64(HMAC-SHA1(auth token, URL + every POST parameter sorted by name, as name + value)), where
the URL is the public one it was configured with, query string included. Twilio adds parameters to its
callbacks without notice, so every parameter received is signed, never a list of known ones.

The URL is ours to rebuild: behind a proxy the request's own Host and scheme are not what Twilio called, so
it is `TRACKER_SHORT_BASE` + path + query. Twilio's helper libraries accept the URL with and without the
scheme's default port (`:443`), because Twilio signs what was configured and either may have been; so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SIGNATURE_HEADER = "x-twilio-signature"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class MalformedForm(ValueError):
    """A body that is not application/x-www-form-urlencoded UTF-8."""


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1 of the URL followed by the parameters sorted by name (then value) as name + value."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_urls(url: str) -> list[str]:
    """The URL as given, and the same with its default port written out or left out."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is None and default is not None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port is not None and parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, urlunsplit(other)]


def is_valid(auth_token: str, url: str, params: Sequence[tuple[str, str]], header: str | None) -> bool:
    """Whether `header` is Twilio's signature of this request; compared in constant time."""
    if not header or not auth_token:
        return False
    given = header.strip().encode("ascii", "replace")
    valid = False
    for candidate in signed_urls(url):
        # No early exit: both candidates are always computed, so timing tells nothing about which matched.
        valid |= hmac.compare_digest(signature(auth_token, candidate, params).encode(), given)
    return valid


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The POST parameters, in order, blank values kept (a blank value is signed too)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedForm("body: not UTF-8") from None
    if not text:
        return []
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=200)
    except (ValueError, UnicodeDecodeError):
        raise MalformedForm("body: not a form (application/x-www-form-urlencoded)") from None
