"""Destinations and UTM tagging.

A destination is checked once, when a link is written, and stored in a canonical ASCII form
(punycode host, percent-encoded path and query) so the edge can put it in a `Location`
header as it is. Tagging keeps every other query parameter byte for byte, and the fragment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

UTM_KEYS: tuple[str, ...] = ("source", "medium", "campaign", "content", "term")
MAX_DESTINATION_LENGTH = 2048
MAX_UTM_LENGTH = 200

# Control characters, white space of any script, and invisible format characters (zero-width, bidi overrides).
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\s\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]+\]$")
# Characters left as they are when re-encoding: RFC 3986 reserved and unreserved, plus '%'
# so existing escapes survive.
_SAFE_PATH = "/:@!$&'()*+,;=-._~%"
_SAFE_QUERY = "/?:@!$&'()*+,;=-._~%"


class InvalidDestination(ValueError):
    """The destination cannot be redirected to; the message says why."""


class InvalidUtm(ValueError):
    """A UTM value is unusable (too long or with control characters)."""


def normalise_utm_value(value: object) -> str:
    """Trim, lower-case, and turn runs of white space into one `_` ("Black  Friday " -> "black_friday")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidUtm("must be a string")
    text = _SPACES.sub("_", value.strip()).lower()
    if len(text) > MAX_UTM_LENGTH:
        raise InvalidUtm(f"longer than {MAX_UTM_LENGTH} characters")
    if _CONTROL.search(text):
        raise InvalidUtm("contains control characters")
    return text


def normalise_utm(utm: Mapping[str, object] | None) -> dict[str, str]:
    """The five UTM values, normalised; unknown keys are refused so typos do not pass silently."""
    utm = utm or {}
    if not isinstance(utm, Mapping):
        raise InvalidUtm("utm must be an object")
    unknown = set(utm) - set(UTM_KEYS)
    if unknown:
        raise InvalidUtm(f"unknown key {sorted(unknown)[0]!r}; expected {', '.join(UTM_KEYS)}")
    result = {}
    for key in UTM_KEYS:
        try:
            result[key] = normalise_utm_value(utm.get(key))
        except InvalidUtm as exc:
            raise InvalidUtm(f"utm.{key}: {exc}") from None
    return result


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """`shop.example` allows exactly that host; `.shop.example` allows it and its subdomains."""
    for allowed in allowed_hosts:
        if allowed.startswith("."):
            if host == allowed[1:] or host.endswith(allowed):
                return True
        elif host == allowed:
            return True
    return False


def canonical_destination(url: object, allowed_hosts: Iterable[str] = ()) -> str:
    """Validate a destination and return its canonical ASCII form, or raise InvalidDestination."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidDestination("must be an absolute http or https URL")
    if len(url) > MAX_DESTINATION_LENGTH:
        raise InvalidDestination(f"longer than {MAX_DESTINATION_LENGTH} characters")
    url = url.strip()
    if _CONTROL.search(url):
        raise InvalidDestination("contains white space or control characters")
    if "\\" in url:
        # Browsers read '\' as '/' in http(s) URLs, so 'https://a\@b' would go somewhere other than it reads.
        raise InvalidDestination("contains a backslash")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a host with characters that change under NFKC: fullwidth '／', '＠'
        raise InvalidDestination("has an invalid host") from None
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(parts.scheme.lower() + "://"):
        raise InvalidDestination("must be an absolute http or https URL")
    if "@" in parts.netloc:
        raise InvalidDestination("must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise InvalidDestination("has an invalid port") from None
    host = ascii_host(parts.hostname or "")
    allowed = tuple(allowed_hosts)
    if allowed and not host_allowed(host.rstrip("."), allowed):
        raise InvalidDestination(f"host {host!r} is not in TRACKER_ALLOWED_HOSTS")
    netloc = host if port is None else f"{host}:{port}"
    canonical = urlunsplit((
        parts.scheme.lower(),
        netloc,
        quote(parts.path, safe=_SAFE_PATH) or "/",
        quote(parts.query, safe=_SAFE_QUERY),
        quote(parts.fragment, safe=_SAFE_QUERY + "#"),
    ))
    if len(canonical) > MAX_DESTINATION_LENGTH:
        raise InvalidDestination(f"longer than {MAX_DESTINATION_LENGTH} characters once encoded")
    return canonical


def ascii_host(host: str) -> str:
    """Lower-case host, unicode names in punycode (IDNA); raises InvalidDestination for anything else."""
    if not host:
        raise InvalidDestination("has no host")
    host = host.lower()
    if ":" in host:  # urlsplit strips the brackets of an IPv6 literal
        if not _IPV6.match(f"[{host}]"):
            raise InvalidDestination("has an invalid host")
        return f"[{host}]"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidDestination("has a host name that is not valid IDNA") from None
    if not _HOST.match(host):
        raise InvalidDestination("has an invalid host")
    return host


def tag_url(destination: str, utm: Mapping[str, str], drop_params: Iterable[str] = ()) -> str:
    """Set `utm_*` from the link on a canonical destination.

    The link's values win over `utm_*` already in the destination; a key the link leaves
    empty keeps the destination's own value. Parameters named in `drop_params` (the click-id
    parameter) are removed so a stale click id is never forwarded. All other parameters keep
    their order and encoding, and the fragment stays last.
    """
    base, hash_mark, fragment = destination.partition("#")
    path, question, query = base.partition("?")
    replaced = {f"utm_{key}" for key in UTM_KEYS if utm.get(key)}
    dropped = replaced | set(drop_params)
    kept = [seg for seg in query.split("&") if seg and unquote(seg.partition("=")[0]) not in dropped]
    added = [f"utm_{key}={quote(utm[key], safe='')}" for key in UTM_KEYS if utm.get(key)]
    segments = kept + added
    tagged = path + ("?" + "&".join(segments) if segments else "")
    return tagged + hash_mark + fragment
