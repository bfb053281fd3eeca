"""The public edge app: `/{code}` redirects on a raw ASGI fast path, the rest through Starlette.

Stateless apart from its caches; talks to Redis only. Started by `tracker edge` (uvicorn
workers) and by `tracker dev`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shortlinks.codes import CodeGenerator
from shortlinks.link_store import LinkStore
from shortlinks.redis_connection import AnyRedis, connect_redis
from tracker.edge.click import IpKeyer
from tracker.edge.link_cache import LinkCache
from tracker.edge.pixel import Pixel, StorefrontScript
from tracker.edge.receipts import receipt_routes
from tracker.edge.redirect import NOT_FOUND_PAGE, Redirect, RedirectTarget, TargetCompiler
from tracker.edge.store_hooks import StoreHooks
from tracker.edge.tally import HotPathTally
from tracker.events.recorder import ConversionRecorder, MessageRecorder
from tracker.events.spill import SpillLog
from tracker.events.streams import ensure_groups, link_key_tags, stream_names
from tracker.events.writer import EventWriter
from tracker.health import health_routes
from tracker.settings import Settings

log = logging.getLogger("tracker.edge")
# The paths Starlette serves (plus the store hooks whose secret is set); every other path is a short code or
# the same 404 page. `/metrics` is not one of them: the edge's series are served on `--metrics-port`
# (loopback), never on this public app.
STARLETTE_PATHS = frozenset({"/px.gif", "/t.js", "/healthz", "/readyz", "/robots.txt"})


class Edge:
    """Owns the edge's shared state: one Redis client, the link cache and the event writer."""

    def __init__(self, settings: Settings, redis: AnyRedis | None = None) -> None:
        settings.require("TRACKER_SECRET")
        if redis is None:
            settings.require("TRACKER_REDIS_URL")
        self.settings = settings
        self.redis = redis if redis is not None else connect_redis(settings.redis_url, timeout=0.5)
        self.streams = stream_names(settings.event_streams)
        self.store = LinkStore(self.redis, CodeGenerator(settings.secret), settings.default_domain,
                               key_tags=link_key_tags(settings.event_streams))
        self.tally = HotPathTally()
        compiler = TargetCompiler(settings)
        self.cache: LinkCache[RedirectTarget] = LinkCache(self.store, compiler, tally=self.tally)
        self.spill = SpillLog(Path(settings.spill_dir), settings.spill_max_mb * 1024 * 1024)
        self.writer = EventWriter(self.redis, self.streams, settings.durability, spill=self.spill)
        self.redirect = Redirect(self.cache, self.writer, IpKeyer(settings.secret), compiler.cookie_head,
                                 settings.domains)
        recorder = ConversionRecorder(self.redis, self.streams)
        self.pixel = Pixel(settings, recorder)
        hooks = StoreHooks(settings, recorder).routes()
        # Delivery receipts: separate routes, never on the /{code} path.
        receipts = receipt_routes(settings, MessageRecorder(self.redis, self.streams))
        self.starlette_paths = STARLETTE_PATHS | {route.path for route in (*hooks, *receipts)}
        self.app = Starlette(
            routes=[
                *receipts,
                Route("/px.gif", self.pixel.serve, methods=["GET", "HEAD"]),
                Route("/t.js", StorefrontScript(settings).serve, methods=["GET", "HEAD"]),
                Route("/robots.txt", robots, methods=["GET", "HEAD"]),
                *hooks,
                *health_routes(self.redis),
            ],
            lifespan=self.lifespan,
        )
        self.app.add_exception_handler(404, not_found)
        # A slash-redirect would build its Location from the Host header: an open redirect.
        self.app.router.redirect_slashes = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.starlette_paths:
            return await self.app(scope, receive, send)
        if scope["method"] in ("GET", "HEAD") and scope["path"].rfind("/") == 0:
            return await self.redirect(scope, receive, send)
        # Anything else looks exactly like a missing code: same status, headers and page.
        await self.redirect.not_found(send)

    async def _flush_tally_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.tally.flush()
            # Cached links live long and hold no cycles: keep the collector from rescanning them
            # (full collections over a large cache paused redirects for 20-100 ms).
            gc.freeze()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.spill.open()
        await ensure_groups(self.redis, self.streams, required=False)
        await self.store.upgrade_layout_at_start()
        self.cache.start()
        ticker = asyncio.create_task(self._flush_tally_every_second(), name="metrics-tick")
        self.writer.start()
        try:
            yield
        finally:
            # uvicorn has stopped taking requests and drained the ones in flight by now.
            await self.writer.close()
            await self.cache.close()
            ticker.cancel()
            self.tally.flush()
            await self.redis.aclose()


async def robots(request: Request) -> Response:
    return PlainTextResponse("User-agent: *\nDisallow: /\n")


async def not_found(request: Request, exc: Exception) -> Response:
    return Response(NOT_FOUND_PAGE, 404, media_type="text/html", headers={"cache-control": "no-store"})


def app_from_env() -> Edge:
    """uvicorn factory for `tracker edge`: each worker reads the settings once."""
    return Edge(Settings.from_env())
