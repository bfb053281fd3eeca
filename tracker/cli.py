"""`tracker dev | edge | admin | loader | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence

import uvicorn

from tracker.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tracker", description="SMS link redirect and click-to-revenue tracker")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="all on one machine: embedded Redis and ClickHouse, edge, admin, loader")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--edge-port", type=int, default=8080)
    dev.add_argument("--admin-port", type=int, default=8081)
    dev.add_argument("--data", default="data", help="folder for Redis, ClickHouse, the secret and the API key")
    dev.add_argument("--demo", action="store_true", help="also seed demo campaigns and serve a demo storefront")

    edge = commands.add_parser("edge", help="the public redirect app (Redis only)")
    edge.add_argument("--host", default="127.0.0.1")
    edge.add_argument("--port", type=int, default=8080)
    edge.add_argument("--workers", type=int, default=1)
    edge.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                      help="proxies whose X-Forwarded-For is trusted (uvicorn's option)")

    admin = commands.add_parser("admin", help="links API, conversions API, reports, dashboard")
    admin.add_argument("--host", default="127.0.0.1")
    admin.add_argument("--port", type=int, default=8081)
    admin.add_argument("--forwarded-allow-ips", default="127.0.0.1")

    loader = commands.add_parser("loader", help="moves events from the Redis stream into ClickHouse")
    loader.add_argument("--name", default=socket.gethostname(),
                        help="consumer name; keep it stable across restarts, unique per running loader")

    commands.add_parser("migrate", help="apply the ClickHouse schema (idempotent)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "dev":
            from tracker.dev import run_dev

            asyncio.run(run_dev(args.host, args.edge_port, args.admin_port, args.data, args.demo))
        elif args.command == "edge":
            Settings.from_env().require("TRACKER_REDIS_URL", "TRACKER_SECRET")
            if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                # Before any worker imports prometheus_client: /metrics then sums every worker.
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tracker-metrics-")
            serve("tracker.edge:app_from_env", args.host, args.port, args.workers, args.forwarded_allow_ips)
        elif args.command == "admin":
            Settings.from_env().require("TRACKER_REDIS_URL", "TRACKER_SECRET", "TRACKER_API_KEYS")
            serve("tracker.admin:app_from_env", args.host, args.port, 1, args.forwarded_allow_ips)
        elif args.command == "loader":
            asyncio.run(run_loader(Settings.from_env(), args.name))
        elif args.command == "migrate":
            run_migrate(Settings.from_env())
    except SettingsError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(factory: str, host: str, port: int, workers: int, forwarded_allow_ips: str) -> None:
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


def connect_clickhouse(settings: Settings):  # type: ignore[no-untyped-def]
    from tracker.clickhouse import ClickHouseUrlError, connect

    try:
        return connect(settings.clickhouse_url)
    except ClickHouseUrlError as exc:
        raise SettingsError(str(exc)) from None


def run_migrate(settings: Settings) -> None:
    from tracker.migrate import migrate

    applied = migrate(connect_clickhouse(settings), retention_days=settings.retention_days)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none, schema is up to date'}")


async def run_loader(settings: Settings, name: str) -> None:
    from shortlinks.redis_connection import connect_redis
    from tracker.event_stream import stream_names
    from tracker.loader import Loader, clickhouse_inserter

    settings.require("TRACKER_REDIS_URL")
    client = connect_clickhouse(settings)
    streams = stream_names(settings.event_streams)
    loader = Loader(connect_redis(settings.redis_url), clickhouse_inserter(client), streams, name)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loader.stop.set)
    await loader.run()
    logging.getLogger("tracker.loader").info("stopped: %s", loader.stats)


if __name__ == "__main__":
    main()
