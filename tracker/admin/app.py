"""The internal admin app: links API, conversions API, reports, dashboard, health and metrics."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from shortlinks.codes import CodeGenerator
from shortlinks.link_store import LinkStore
from shortlinks.redis_connection import AnyRedis, connect_redis
from tracker.admin.auth import BearerAuth
from tracker.admin.compose_api import ComposeApi
from tracker.admin.conversions_api import ConversionsApi
from tracker.admin.links_api import LinksApi
from tracker.admin.messages_api import MessagesApi
from tracker.admin.openapi import openapi_routes
from tracker.admin.reports_api import ReportsApi
from tracker.clickhouse.connect import answers, connect_settings
from tracker.dashboard.endpoints import Dashboard
from tracker.dashboard.links_page import LinksPage
from tracker.events.recorder import ConversionRecorder, MessageRecorder
from tracker.events.streams import ensure_groups, link_key_tags, stream_names
from tracker.health import health_routes
from tracker.http_json import ApiError, error_response
from tracker.metrics import metrics_routes
from tracker.settings import Settings

log = logging.getLogger("tracker.admin")


class Admin:
    def __init__(self, settings: Settings, redis: AnyRedis | None = None, clickhouse: Any = None) -> None:
        settings.require("TRACKER_SECRET", "TRACKER_API_KEYS")
        if redis is None:
            settings.require("TRACKER_REDIS_URL")
        self.settings = settings
        self.redis = redis if redis is not None else connect_redis(settings.redis_url)
        self.streams = stream_names(settings.event_streams)
        self.store = LinkStore(self.redis, CodeGenerator(settings.secret), settings.default_domain,
                               key_tags=link_key_tags(settings.event_streams))
        self.recorder = ConversionRecorder(self.redis, self.streams)
        self.clickhouse = clickhouse
        dashboard = Dashboard(settings, clickhouse)
        routes = [
            *LinksApi(settings, self.store).routes(),
            *ComposeApi(settings, self.store).routes(),
            *ConversionsApi(settings, self.recorder).routes(),
            *MessagesApi(settings, MessageRecorder(self.redis, self.streams), self.store).routes(),
            *ReportsApi(settings, clickhouse).routes(),
            *dashboard.routes(),
            *LinksPage(settings, self.store, clickhouse, dashboard).routes(),
            *health_routes(self.redis, self.clickhouse_answers if clickhouse is not None else None),
            *metrics_routes(),
            *openapi_routes(),
        ]
        self.app = Starlette(
            routes=routes,
            middleware=[Middleware(BearerAuth, keys=settings.api_keys)],
            exception_handlers={ApiError: api_error, HTTPException: http_error, RedisError: redis_unavailable},
            lifespan=self.lifespan,
        )
        # A slash-redirect would build its Location from the Host header: an open redirect.
        self.app.router.redirect_slashes = False

    async def clickhouse_answers(self) -> bool:
        return await answers(self.clickhouse)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await ensure_groups(self.redis, self.streams, required=False)
        await self.store.upgrade_layout_at_start()
        try:
            yield
        finally:
            await self.redis.aclose()


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def redis_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable for %s %s (%s)", request.method, request.url.path, type(exc).__name__)
    return error_response(503, "link store unavailable, nothing was changed; retry later")


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors in our shape. A method the path does not take is a 404 naming the methods it does:
    the admin API answers only the statuses of its contract (docs/api.md), and 405 is not one of them."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        methods = path_methods(request)
        endpoint = f"{request.method[:10]} {request.url.path[:100]}"
        response = error_response(404, f"{endpoint}: no such endpoint; this path answers {', '.join(methods)}")
        response.headers["allow"] = ", ".join(methods)
        return response
    return error_response(exc.status_code, exc.detail)


def path_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path (one route per method is our style)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return sorted(methods)


def app_from_env() -> Starlette:
    """uvicorn factory for `tracker admin`."""
    settings = Settings.from_env()
    return Admin(settings, clickhouse=connect_settings(settings)).app
