"""`/healthz` (the process is up) and `/readyz` (its dependencies answer)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.redis_connection import AnyRedis
from tracker.http_json import json_response


def health_routes(redis: AnyRedis, extra_check: Callable[[], Awaitable[bool]] | None = None) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"redis": False}
        with contextlib.suppress(RedisError, OSError):
            checks["redis"] = bool(await redis.ping())
        if extra_check is not None:
            checks["clickhouse"] = await extra_check()
        ready = all(checks.values())
        return json_response({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/readyz", readyz, methods=["GET", "HEAD"])]
