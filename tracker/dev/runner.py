"""`tracker dev`: the whole product in one process on one machine.

Embedded redis-server (child process, AOF under ./data/redis, a generated password kept in
./data/redis_password) unless TRACKER_REDIS_URL is set, embedded ClickHouse (chDB under
./data/clickhouse unless TRACKER_CLICKHOUSE_URL is set; chDB allows one process per data folder,
hence one process for the loader and the reports), the edge on :8080 (its /metrics on :9108)
and the admin on :8081; `--data DIR` moves everything under ./data to DIR, which only this user
can read. Shutdown goes in
order: the edge stops taking requests and flushes its events, the admin stops, the loader
moves every event into ClickHouse, then Redis stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from dataclasses import dataclass, replace
from pathlib import Path

from shortlinks.redis_connection import connect_redis
from tracker.admin.app import Admin
from tracker.clickhouse.connect import connect_settings
from tracker.clickhouse.migrate import migrate
from tracker.dev.demo import DemoShop
from tracker.dev.embedded_redis import EmbeddedRedis
from tracker.edge.app import Edge
from tracker.events.recorder import MessageRecorder
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter
from tracker.metrics import serve_metrics
from tracker.serving import EmbeddedServer, uvicorn_config
from tracker.settings import Settings
from tracker.startup import StartupError, port_free, wait_for_redis

log = logging.getLogger("tracker.dev")


def kept_secret(path: Path, nbytes: int = 32) -> str:
    """A random value created once and kept in `path` (mode 600), so restarts keep codes and refs stable."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@dataclass(frozen=True)
class DevOptions:
    """The command line of `tracker dev`."""

    host: str = "127.0.0.1"
    edge_port: int = 8080
    admin_port: int = 8081
    data: str = "data"
    demo: bool = False
    demo_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108


async def run_dev(options: DevOptions) -> None:
    data_dir = Path(options.data).absolute()
    host, edge_port, admin_port = options.host, options.edge_port, options.admin_port
    demo_port = options.demo_port or admin_port + 1
    # Every port first, before anything starts: a port in use is one line, not a half-started stack.
    port_free(host, edge_port, "--edge-port")
    port_free(host, admin_port, "--admin-port")
    port_free(options.metrics_host, options.metrics_port, "--metrics-port")
    if options.demo:
        port_free("127.0.0.1", demo_port, "--demo-port")
    private_folder(data_dir)
    settings = Settings.from_env()
    if not settings.secret:
        settings = replace(settings, secret=kept_secret(data_dir / "secret"))
    if not settings.api_keys:
        settings = replace(settings, api_keys=(kept_secret(data_dir / "api_key", 24),))
    if "TRACKER_CLICKHOUSE_URL" not in settings.explicit:
        settings = replace(settings, clickhouse_url=f"chdb://{data_dir / 'clickhouse'}")
    if "TRACKER_SPILL_DIR" not in settings.explicit:
        settings = replace(settings, spill_dir=str(data_dir / "spill"))
    if settings.short_base == "http://127.0.0.1:8080" and (host, edge_port) != ("127.0.0.1", 8080):
        settings = replace(settings, short_base=f"http://{host}:{edge_port}")
    if options.demo and settings.short_base == f"http://127.0.0.1:{edge_port}":
        # Short links on `localhost`, the demo shop on 127.0.0.1: two sites, as go.shop.example and shop.example
        # are, so the edge's HttpOnly click cookie does not shadow the first-party one /t.js sets for the shop.
        settings = replace(settings, short_base=f"http://localhost:{edge_port}")

    redis_server = None
    if settings.redis_url:
        await asyncio.to_thread(wait_for_redis, settings.redis_url, settings.start_timeout)
    else:
        redis_server = EmbeddedRedis(data_dir / "redis", password=kept_secret(data_dir / "redis_password"))
        try:
            redis_server.start()
        except (RuntimeError, TimeoutError, OSError) as exc:
            raise StartupError(f"the embedded redis-server did not start: {exc}") from None
        settings = replace(settings, redis_url=redis_server.url)
    try:
        clickhouse = connect_settings(settings)
        migrate(clickhouse, retention_days=settings.retention_days)
        if options.metrics_port:
            serve_metrics(options.metrics_host, options.metrics_port)
        await serve_all(settings, host, edge_port, admin_port, clickhouse, options.demo, demo_port, data_dir)
    finally:
        if redis_server is not None:
            redis_server.stop()


def private_folder(path: Path) -> None:
    """Create `path` (and its parents) readable by this user only: it holds the secret, keys and every event."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


async def serve_all(settings: Settings, host: str, edge_port: int, admin_port: int, clickhouse: object,
                    demo: bool, demo_port: int | None = None, data_dir: Path | None = None) -> None:
    edge = Edge(settings)
    admin = Admin(settings, clickhouse=clickhouse)
    loader = Loader(connect_redis(settings.redis_url), clickhouse_inserter(clickhouse),
                    stream_names(settings.event_streams), "dev")
    edge_server = EmbeddedServer(uvicorn_config(edge, host, edge_port))
    admin_server = EmbeddedServer(uvicorn_config(admin.app, host, admin_port))
    # The demo storefront: loopback only, on the port after the admin's unless told otherwise.
    shop = DemoShop(settings.short_base, demo_port or admin_port + 1, f"http://{host}:{admin_port}/reports") \
        if demo else None
    shop_server = EmbeddedServer(uvicorn_config(shop.app, "127.0.0.1", shop.port)) if shop is not None else None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    edge_task = asyncio.create_task(edge_server.serve())
    admin_task = asyncio.create_task(admin_server.serve())
    shop_task = asyncio.create_task(shop_server.serve()) if shop_server is not None else None
    loader_task = asyncio.create_task(loader.run())
    while not (edge_server.started and admin_server.started and (shop_server is None or shop_server.started)):
        if edge_task.done() or admin_task.done() or (shop_task is not None and shop_task.done()):
            # a port in use, say: uvicorn has logged why
            stop.set()
            break
        await asyncio.sleep(0.05)
    else:
        api_key = settings.api_keys[0]
        print(banner(settings, host, edge_port, admin_port, api_key, data_dir), flush=True)
        if shop is not None:
            await shop.seed(admin.store, settings)
            await shop.send_texts(MessageRecorder(admin.redis, admin.streams), settings)
            print(shop.banner(), flush=True)

    await stop.wait()
    print("shutting down: edge, admin, then the loader drains the stream into ClickHouse ...", flush=True)
    if shop_server is not None and shop_task is not None:
        shop_server.should_exit = True
        await asyncio.gather(shop_task, return_exceptions=True)
    edge_server.should_exit = True
    await asyncio.gather(edge_task, return_exceptions=True)
    admin_server.should_exit = True
    await asyncio.gather(admin_task, return_exceptions=True)
    loader.stop.set()
    await asyncio.gather(loader_task, return_exceptions=True)
    await loader.redis.aclose()
    print(f"loaded {loader.stats.clicks} clicks and {loader.stats.conversions} conversions this run; "
          f"stopped cleanly", flush=True)


def banner(settings: Settings, host: str, edge_port: int, admin_port: int, api_key: str,
           data_dir: Path | None = None) -> str:
    admin_url = f"http://{host}:{admin_port}"
    where = shown_path(data_dir) if data_dir is not None else "./data"
    return f"""
tracker dev is running
  edge   {settings.short_base}   (redirects, /px.gif, /t.js)
  admin  {admin_url}   (API, /reports dashboard)
  admin API key: {api_key}

try it:
  curl -s -X POST {admin_url}/v1/links -H 'Authorization: Bearer {api_key}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"destination": "https://shop.example/sale",
            "utm": {{"source": "klaviyo", "medium": "sms", "campaign": "black friday"}}}}'
  curl -s -o /dev/null -D - -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148' \\
       {settings.short_base}/<code from the reply>
  (a phone's agent and a GET, as a tap arrives: curl's own agent and `curl -I`'s HEAD count as bot clicks)

Ctrl-C stops everything in order; data stays in {where}
"""


def shown_path(path: Path) -> str:
    """`./data` for a folder under the current one, else the absolute path."""
    try:
        return "./" + str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
