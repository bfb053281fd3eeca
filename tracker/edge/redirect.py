"""GET|HEAD /{code}: resolve, build the Location, enqueue the click, respond.

This is the hot path. A link is compiled once into a `RedirectTarget` (Location parts, the
cookie tail, the event's link fields) when it enters the cache, so a request does string
joins, one JSON dump and, in `ack` mode, one shared pipeline round trip.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from importlib.resources import files
from time import perf_counter
from typing import Any

import orjson
from redis.exceptions import RedisError

from shortlinks.codes import is_well_formed
from shortlinks.link import Link
from tracker.edge.click import ClickRequest, IpKeyer, new_click_id
from tracker.edge.link_cache import LinkCache
from tracker.events import click as click_schema
from tracker.events.writer import EventWriter
from tracker.settings import Settings

# Static pages, read once: the hot path sends them as they are (no template engine on it).
_PAGES = files("tracker.edge").joinpath("static")
NOT_FOUND_PAGE = _PAGES.joinpath("not_found.html").read_bytes()
UNAVAILABLE_PAGE = _PAGES.joinpath("unavailable.html").read_bytes()
NO_STORE = (b"cache-control", b"no-store")


def html_response_start(status: int, body: bytes) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            NO_STORE,
        ],
    }


NOT_FOUND_START = html_response_start(404, NOT_FOUND_PAGE)
UNAVAILABLE_START = html_response_start(503, UNAVAILABLE_PAGE)
EMPTY_BODY = {"type": "http.response.body", "body": b""}


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """A link compiled for the edge."""

    location_head: str  # tagged URL up to where the click id goes, e.g. "https://shop/p?utm_source=x&sclid="
    location_tail: str  # "#fragment" or ""
    cookie_head: bytes  # b"sclid="
    cookie_tail: bytes  # b"; Max-Age=...; Path=/; Secure; HttpOnly; SameSite=Lax"
    expires_at: float  # epoch seconds; inf when the link does not expire
    disabled: bool
    event_head: bytes  # the event JSON's link fields, without the closing brace

    @classmethod
    def compile(cls, link: Link, settings: Settings) -> RedirectTarget:
        base, hash_mark, fragment = link.tagged_url.partition("#")
        joiner = "&" if "?" in base else "?"
        cookie_tail = f"; Max-Age={settings.window_for(link.channel)}; Path=/; Secure; HttpOnly; SameSite=Lax"
        if settings.cookie_domain:
            cookie_tail += f"; Domain={settings.cookie_domain}"
        return cls(
            location_head=f"{base}{joiner}{settings.click_param}=",
            location_tail=hash_mark + fragment,
            cookie_head=f"{settings.click_param}=".encode(),
            cookie_tail=cookie_tail.encode(),
            expires_at=link.expires_at.timestamp() if link.expires_at else math.inf,
            disabled=link.disabled,
            event_head=orjson.dumps(click_schema.link_fields(link))[:-1],
        )

    def click_event(self, click_id: str, request: ClickRequest, now: float, ip_ref: str) -> bytes:
        # The link's fields were encoded once at compile time; only the request's are encoded here.
        return self.event_head + b"," + orjson.dumps(click_schema.request_fields(
            click_id, int(now * 1000), request.method, request.user_agent, request.referer, request.purpose, ip_ref
        ))[1:]


class Redirect:
    """The raw ASGI endpoint for `/{code}`; Starlette is not in this path."""

    def __init__(self, cache: LinkCache[RedirectTarget], writer: EventWriter, ip_keyer: IpKeyer) -> None:
        self._cache = cache
        self._writer = writer
        self._ip = ip_keyer
        self._tally = cache.tally

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = perf_counter()
        code = scope["path"][1:]
        try:
            target = await self._cache.get(code) if is_well_formed(code) else None
        except (RedisError, OSError):
            return await self._respond(send, 503, UNAVAILABLE_START, UNAVAILABLE_PAGE)
        now = time.time()
        if target is None or target.disabled or target.expires_at <= now:
            return await self._respond(send, 404, NOT_FOUND_START, NOT_FOUND_PAGE)
        click_id = new_click_id()
        request = ClickRequest.from_scope(scope)
        await self._writer.append(target.click_event(click_id, request, now, self._ip.ref(request.client)))
        await send({
            "type": "http.response.start",
            "status": 302,
            "headers": [
                (b"location", f"{target.location_head}{click_id}{target.location_tail}".encode()),
                (b"set-cookie", target.cookie_head + click_id.encode() + target.cookie_tail),
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
