"""GET|HEAD /{code}: resolve, build the Location, record the click, respond.

This is the hot path. A link is compiled once into a `RedirectTarget` (Location parts, the
cookie tail; the event's link fields when first needed) when it enters the cache, so a request
does string joins, one JSON dump and, in `ack` mode, a share of one round trip. A code the
edge has not cached (an SMS blast: almost every tap) costs the same share: the writer's tap
script resolves the link and appends the click in one call, and the reply is compiled and cached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files
from time import perf_counter
from typing import Any

import orjson

from shortlinks.codes import is_well_formed
from shortlinks.link import Link
from tracker.edge.click import ClickRequest, IpKeyer, new_click_id
from tracker.edge.host_domain import HostDomains
from tracker.edge.link_cache import MISSING, LinkCache
from tracker.events import click as click_schema
from tracker.events.writer import EventWriter, NotDurable, Unresolved
from tracker.settings import Settings

# Static pages, read once: the hot path sends them as they are (no template engine on it).
_PAGES = files("tracker.edge").joinpath("static")
NOT_FOUND_PAGE = _PAGES.joinpath("not_found.html").read_bytes()
UNAVAILABLE_PAGE = _PAGES.joinpath("unavailable.html").read_bytes()
NO_STORE = (b"cache-control", b"no-store")
COLD_HEAD = b'{"kind":"%s",' % click_schema.KIND.encode()  # a cold tap's event: its link part comes as a record


def html_response_start(status: int, body: bytes, *extra: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            NO_STORE,
            *extra,
        ],
    }


NOT_FOUND_START = html_response_start(404, NOT_FOUND_PAGE)
UNAVAILABLE_START = html_response_start(503, UNAVAILABLE_PAGE, (b"retry-after", b"1"))
EMPTY_BODY = {"type": "http.response.body", "body": b""}


class RedirectTarget:
    """A link compiled for the edge."""

    __slots__ = ("location_head", "location_tail", "cookie_tail", "expires_at", "disabled", "_record", "_event_head")

    def __init__(self, record: bytes, link: dict[str, Any], location_head: str, location_tail: str,
                 cookie_tail: bytes) -> None:
        self.location_head = location_head  # tagged URL up to where the click id goes: "https://shop/p?utm_source=x&sclid="
        self.location_tail = location_tail  # "#fragment" or ""
        self.cookie_tail = cookie_tail  # b"; Max-Age=...; Path=/; Secure; HttpOnly; SameSite=Lax"
        expires = link.get("expires_at")
        self.expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() if expires else math.inf
        self.disabled = bool(link.get("disabled"))
        self._record = record
        self._event_head: bytes | None = None

    @property
    def event_head(self) -> bytes:
        """The event JSON's link fields without the closing brace; encoded once, when a tap first needs it
        (a link tapped once, the blast case, never does: its click went with its record)."""
        if self._event_head is None:
            self._event_head = orjson.dumps(click_schema.link_fields(Link.from_record(self._record)))[:-1]
        return self._event_head

    def click_event(self, click_id: str, request: ClickRequest, now: float, ip_ref: str) -> bytes:
        """The complete event: the link's fields, encoded once, and the request's."""
        return self.event_head + b"," + request_event(click_id, request, now, ip_ref)[1:]


class TargetCompiler:
    """Turns link records into `RedirectTarget`s; what depends on the settings is worked out once per channel."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.cookie_head = f"{settings.click_param}=".encode()
        self._param = f"{settings.click_param}="
        self._cookie_tails: dict[str, bytes] = {}

    def __call__(self, record: bytes) -> RedirectTarget:
        link = orjson.loads(record)
        base, hash_mark, fragment = link["tagged_url"].partition("#")
        joiner = "&" if "?" in base else "?"
        channel = link.get("channel", "")
        cookie_tail = self._cookie_tails.get(channel)
        if cookie_tail is None:
            settings = self._settings
            tail = f"; Max-Age={settings.window_for(channel)}; Path=/; Secure; HttpOnly; SameSite=Lax"
            if settings.cookie_domain:
                tail += f"; Domain={settings.cookie_domain}"
            cookie_tail = self._cookie_tails.setdefault(channel, tail.encode())
        return RedirectTarget(record, link, f"{base}{joiner}{self._param}", hash_mark + fragment, cookie_tail)


def request_event(click_id: str, request: ClickRequest, now: float, ip_ref: str) -> bytes:
    """The request's fields of a click event, as a JSON object."""
    return orjson.dumps(click_schema.request_fields(
        click_id, int(now * 1000), request.method, request.user_agent, request.referer, request.purpose, ip_ref
    ))


class Redirect:
    """The raw ASGI endpoint for `/{code}`; Starlette is not in this path."""

    def __init__(self, cache: LinkCache[RedirectTarget], writer: EventWriter, ip_keyer: IpKeyer,
                 cookie_head: bytes, domains: Sequence[str]) -> None:
        self._domains = HostDomains(domains)
        self._cache = cache
        self._writer = writer
        self._ip = ip_keyer
        self._cookie_head = cookie_head
        self._tally = cache.tally

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = perf_counter()
        code = scope["path"][1:]
        if not is_well_formed(code):
            return await self._respond(send, 404, NOT_FOUND_START, NOT_FOUND_PAGE)
        key = self._cache.key(self._domains.of(scope), code)
        target = self._cache.get(key)
        if target is MISSING:
            return await self._cold(scope, send, key, started)
        now = time.time()
        if target is None or target.disabled or target.expires_at <= now:
            return await self._respond(send, 404, NOT_FOUND_START, NOT_FOUND_PAGE)
        await self._warm(scope, send, target, now, started)

    async def _warm(self, scope: Any, send: Any, target: RedirectTarget, now: float, started: float) -> None:
        click_id = new_click_id()
        request = ClickRequest.from_scope(scope)
        try:
            await self._writer.append(target.click_event(click_id, request, now, self._ip.ref(request.client)))
        except NotDurable:
            return await self._respond(send, 503, UNAVAILABLE_START, UNAVAILABLE_PAGE)
        await self._redirect(send, target, click_id, started)

    async def _cold(self, scope: Any, send: Any, key: str, started: float) -> None:
        """A code not in the cache: resolved and recorded by the writer in the batch's one round trip."""
        since = self._cache.generation
        click_id = new_click_id()
        request = ClickRequest.from_scope(scope)
        now = time.time()
        event = COLD_HEAD + request_event(click_id, request, now, self._ip.ref(request.client))[1:]
        try:
            record, appended = await self._writer.resolve(key, event)
        except Unresolved:
            # Redis could not be asked. A link we knew (an entry past its refresh time) still redirects,
            # its click spilled like any other while Redis is away; a link we never saw cannot.
            stale = self._cache.stale(key)
            if stale is MISSING or stale is None or stale.disabled or stale.expires_at <= now:
                return await self._respond(send, 503, UNAVAILABLE_START, UNAVAILABLE_PAGE)
            return await self._warm(scope, send, stale, now, started)
        target = self._cache.put(key, record, since)
        if not appended or target is None:
            return await self._respond(send, 404, NOT_FOUND_START, NOT_FOUND_PAGE)
        await self._redirect(send, target, click_id, started)

    async def _redirect(self, send: Any, target: RedirectTarget, click_id: str, started: float) -> None:
        await send({
            "type": "http.response.start",
            "status": 302,
            "headers": [
                (b"location", f"{target.location_head}{click_id}{target.location_tail}".encode()),
                (b"set-cookie", self._cookie_head + click_id.encode() + target.cookie_tail),
                NO_STORE,
                (b"content-length", b"0"),
            ],
        })
        await send(EMPTY_BODY)
        self._tally.statuses[302] += 1
        self._tally.observe(perf_counter() - started)

    async def not_found(self, send: Any) -> None:
        await self._respond(send, 404, NOT_FOUND_START, NOT_FOUND_PAGE)

    async def _respond(self, send: Any, status: int, start: dict[str, Any], body: bytes) -> None:
        self._tally.statuses[status] += 1
        await send(start)
        await send({"type": "http.response.body", "body": body})
