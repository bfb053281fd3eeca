"""`tracker loader`: the loader process, with /healthz, /readyz and /metrics on a port of its own."""

from __future__ import annotations

import asyncio
import logging
import signal

from starlette.applications import Starlette

from shortlinks.redis_connection import connect_redis
from tracker.clickhouse.connect import answers, connect_settings
from tracker.events.streams import stream_names
from tracker.health import health_routes
from tracker.loader.stream_loader import Loader, clickhouse_inserter
from tracker.metrics import metrics_routes
from tracker.serving import EmbeddedServer, uvicorn_config
from tracker.settings import Settings

log = logging.getLogger("tracker.loader")


async def run_loader(settings: Settings, name: str, host: str, port: int) -> None:
    """Load until SIGINT or SIGTERM, then drain what the streams hold; `port` 0 serves no HTTP."""
    settings.require("TRACKER_REDIS_URL")
    client = connect_settings(settings)
    redis = connect_redis(settings.redis_url)
    loader = Loader(redis, clickhouse_inserter(client), stream_names(settings.event_streams), name)

    async def clickhouse_answers() -> bool:
        return await answers(client)

    server = None
    if port:
        app = Starlette(routes=[*health_routes(redis, clickhouse_answers), *metrics_routes()])
        server = EmbeddedServer(uvicorn_config(app, host, port))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loader.stop.set)
    serving = asyncio.create_task(server.serve()) if server else None
    await loader.run()
    if server and serving:
        server.should_exit = True
        await serving
    log.info("stopped after loading %d clicks and %d conversions", loader.stats.clicks, loader.stats.conversions)
