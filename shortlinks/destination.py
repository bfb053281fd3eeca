"""Destinations: parsed as a browser parses them, and tagged with our parameters.

A destination is parsed once, when a link is written, by `ada-url` (a maintained implementation
of the WHATWG URL standard, the parser every browser follows): hosts go through IDNA UTS #46
non-transitional processing (`faß.example` is `xn--fa-hia.example`, not `fass.example`), IPv4
in any of the forms browsers accept is normalised (`http://0x7f.1/` is `http://127.0.0.1/`),
dot segments are resolved and the path, query and fragment are percent-encoded as the standard
says. What is stored, and sent as `Location`, is the standard's own serialisation (`href`), so
the 302 goes exactly where a browser given the destination would go.

The standard accepts a few things we refuse on purpose; each has a reason code (`REASONS`):
user names and passwords (`https://shop.example@evil.example/` reads as one host and goes to
another), backslashes (browsers read `\\` as `/`, so `https://a\\@b` is not what it looks like),
white space and control characters (browsers silently drop tabs and newlines, which is how a
pasted destination smuggles a different URL past a reviewer) and port 0 (no server listens
there). Everything the standard rejects is refused with the reason `invalid_url`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, unquote_plus

from ada_url import URL

from shortlinks.utm import UNPRINTABLE, UTM_KEYS

MAX_DESTINATION_LENGTH: Final = 2048

# Why a destination is refused: reason code -> the message the API sends (after "destination: ").
REASONS: Final[Mapping[str, str]] = {
    "invalid_url": "is not a valid URL (the WHATWG URL standard rejects it)",
    "not_http": "must be an absolute http or https URL",
    "too_long": f"longer than {MAX_DESTINATION_LENGTH} characters",
    "whitespace": "contains white space, control or invisible formatting characters",
    "backslash": "contains a backslash (browsers read it as '/')",
    "credentials": "must not carry a user name or password",
    "port_zero": "has port 0, which no server listens on",
    "host_not_allowed": "host is not in TRACKER_ALLOWED_HOSTS",
}
# Refusals of URLs the standard accepts: our policy, not a parse failure.
POLICY_REASONS: Final = frozenset(REASONS) - {"invalid_url"}

_HTTP_SCHEMES: Final = ("http:", "https:")


class InvalidDestination(ValueError):
    """The destination cannot be redirected to; `reason` is one of `REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or REASONS[reason])
        self.reason = reason


def canonical_destination(url: object, allowed_hosts: Iterable[str] = ()) -> str:
    """The standard's serialisation of an http(s) destination, or raise InvalidDestination."""
    if not isinstance(url, str) or not url:
        raise InvalidDestination("not_http")
    if len(url) > MAX_DESTINATION_LENGTH:
        raise InvalidDestination("too_long")
    if UNPRINTABLE.search(url):
        raise InvalidDestination("whitespace")
    if "\\" in url:
        raise InvalidDestination("backslash")
    try:
        parsed = URL(url)
    except ValueError:
        raise InvalidDestination("invalid_url") from None
    if parsed.protocol not in _HTTP_SCHEMES:
        raise InvalidDestination("not_http")
    if parsed.username or parsed.password:
        raise InvalidDestination("credentials")
    if parsed.port == "0":
        raise InvalidDestination("port_zero")
    allowed = tuple(allowed_hosts)
    if allowed and not host_allowed(parsed.hostname.rstrip("."), allowed):
        raise InvalidDestination("host_not_allowed", f"host {parsed.hostname!r} is not in TRACKER_ALLOWED_HOSTS")
    href = parsed.href
    if len(href) > MAX_DESTINATION_LENGTH:
        raise InvalidDestination("too_long", f"longer than {MAX_DESTINATION_LENGTH} characters once encoded")
    return href


def short_host(value: str) -> str:
    """A short domain as the edge compares it: lower-case, IDN in punycode (UTS #46), no port or path."""
    text = value.strip().rstrip(".")
    if not text or any(ch in text for ch in ":/@?#\\ "):
        raise ValueError(f"expected host names like go.brand.example (no scheme, port or path), got {value!r}")
    try:
        host = URL(f"http://{text}/").hostname
    except ValueError:
        raise ValueError(f"not a host name: {value!r}") from None
    if not host:
        raise ValueError(f"not a host name: {value!r}")
    return host


def is_ip_address(host: str) -> bool:
    """Whether a host (as the URL standard writes it: IPv6 in brackets) is an IP address, not a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """`shop.example` allows exactly that host; `.shop.example` allows it and its subdomains."""
    for allowed in allowed_hosts:
        if allowed.startswith("."):
            if host == allowed[1:] or host.endswith(allowed):
                return True
        elif host == allowed:
            return True
    return False


def tag_url(destination: str, utm: Mapping[str, str], drop_params: Iterable[str] = ()) -> str:
    """Set `utm_*` from the link on a canonical destination.

    The link's values win over `utm_*` already in the destination; a key the link leaves
    empty keeps the destination's own value. Parameters named in `drop_params` (the click-id
    parameter) are removed so a stale click id is never forwarded. All other parameters keep
    their order and bytes, and the fragment stays last. Names are compared as the standard's
    `URLSearchParams` reads them (`utm%5Fsource` and `utm_source` are one name), and what is
    added is already percent-encoded, so the result is itself a canonical URL.
    """
    base, hash_mark, fragment = destination.partition("#")
    path, _, query = base.partition("?")
    replaced = {f"utm_{key}" for key in UTM_KEYS if utm.get(key)}
    dropped = replaced | set(drop_params)
    kept = [seg for seg in query.split("&") if seg and unquote_plus(seg.partition("=")[0]) not in dropped]
    added = [f"utm_{key}={quote(utm[key], safe='')}" for key in UTM_KEYS if utm.get(key)]
    segments = kept + added
    tagged = path + ("?" + "&".join(segments) if segments else "")
    return tagged + hash_mark + fragment
