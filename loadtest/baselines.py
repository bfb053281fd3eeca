"""The apps `loadtest/bench` compares the edge with: what a 302 costs before any tracking is done.

(a) `bare`: a raw ASGI callable answering a fixed 302, the floor of uvicorn + httptools + uvloop;
(b) `starlette`: the same 302 through a Starlette route and `RedirectResponse`, the floor of a framework app;
(c) `naive`: the shortener most people write first, one redis-py asyncio GET of the link per request, then a 302.

Each is a uvicorn factory, served by `tracker.cli.serve` exactly like `tracker edge` (same loop, parser, workers,
proxy headers, no access log), so the only difference measured is the app:

    python -m loadtest.baselines bare|starlette|naive --port 8090 --workers 1 [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import orjson
import redis.asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from shortlinks.link_store import link_key
from tracker.events.streams import link_key_tags

FIXED_LOCATION = "https://shop.example/sale?utm_source=klaviyo&utm_medium=sms&utm_campaign=bench"
REDIS_URL_VARIABLE = "BENCH_REDIS_URL"
BENCH_DOMAIN = "127.0.0.1"  # the host of the TRACKER_SHORT_BASE the benchmark runs the edge with


def bare() -> Any:
    start = {
        "type": "http.response.start",
        "status": 302,
        "headers": [(b"location", FIXED_LOCATION.encode()), (b"content-length", b"0")],
    }
    body = {"type": "http.response.body", "body": b""}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: nothing to set up
            return
        await send(start)
        await send(body)

    return app


def starlette() -> Starlette:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(FIXED_LOCATION, 302)

    return Starlette(routes=[Route("/{code}", redirect, methods=["GET", "HEAD"])])


def naive() -> Starlette:
    client = redis.asyncio.Redis.from_url(os.environ[REDIS_URL_VARIABLE])
    tags = link_key_tags(1)  # the edge in the bench runs with one stream

    async def redirect(request: Request) -> Response:
        record = await client.get(link_key(BENCH_DOMAIN, request.path_params["code"], tags))
        if record is None:
            return Response("not found", 404)
        return RedirectResponse(orjson.loads(record)["tagged_url"], 302)

    return Starlette(routes=[Route("/{code}", redirect, methods=["GET", "HEAD"])])


if __name__ == "__main__":
    from tracker.cli import serve

    parser = argparse.ArgumentParser(prog="python -m loadtest.baselines")
    parser.add_argument("app", choices=("bare", "starlette", "naive"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    if args.redis_url:
        os.environ[REDIS_URL_VARIABLE] = args.redis_url  # read by each worker's factory call
    serve(f"loadtest.baselines:{args.app}", "127.0.0.1", args.port, args.workers, "127.0.0.1")
