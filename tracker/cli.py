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
import uvloop

from tracker.json_logs import configure_logging
from tracker.serving import GracefulServer, uvicorn_config, uvicorn_options
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
    dev.add_argument("--demo-port", type=int, default=None, help="demo storefront port (default: admin port + 1)")

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
    loader.add_argument("--host", default="127.0.0.1", help="address of /healthz, /readyz and /metrics")
    loader.add_argument("--port", type=int, default=8082, help="port of /healthz, /readyz and /metrics; 0: none")

    migrate = commands.add_parser("migrate", help="apply the ClickHouse schema (idempotent)")
    migrate.add_argument("--cluster", default="", help="apply ops/clickhouse/cluster/ ON CLUSTER this name")

    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "dev":
            from tracker.dev import run_dev

            uvloop.run(run_dev(args.host, args.edge_port, args.admin_port, args.data, args.demo, args.demo_port))
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
            asyncio.run(run_loader(Settings.from_env(), args.name, args.host, args.port))
        elif args.command == "migrate":
            run_migrate(Settings.from_env(), args.cluster)
    except SettingsError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(factory: str, host: str, port: int, workers: int, forwarded_allow_ips: str) -> None:
    if workers == 1:
        config = uvicorn_config(factory, host, port, forwarded_allow_ips=forwarded_allow_ips, factory=True)
        GracefulServer(config).run()
        return
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, **uvicorn_options(forwarded_allow_ips))


def connect_clickhouse(settings: Settings):  # type: ignore[no-untyped-def]
    from tracker.clickhouse import ClickHouseUrlError, connect

    try:
        return connect(settings.clickhouse_url)
    except ClickHouseUrlError as exc:
        raise SettingsError(str(exc)) from None


def run_migrate(settings: Settings, cluster: str) -> None:
    from tracker.cluster_migrate import migrate_cluster
    from tracker.migrate import MigrationError, migrate

    client = connect_clickhouse(settings)
    try:
        if cluster:
            applied = migrate_cluster(client, cluster, retention_days=settings.retention_days)
        else:
            applied = migrate(client, retention_days=settings.retention_days)
    except (MigrationError, ValueError) as exc:
        print(f"tracker migrate: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none, schema is up to date'}")


async def run_loader(settings: Settings, name: str, host: str, port: int) -> None:
    from starlette.applications import Starlette

    from shortlinks.redis_connection import connect_redis
    from tracker.event_stream import stream_names
    from tracker.health import health_routes
    from tracker.loader import Loader, clickhouse_inserter
    from tracker.metrics import metrics_routes
    from tracker.serving import EmbeddedServer, uvicorn_config

    settings.require("TRACKER_REDIS_URL")
    client = connect_clickhouse(settings)
    redis = connect_redis(settings.redis_url)
    loader = Loader(redis, clickhouse_inserter(client), stream_names(settings.event_streams), name)

    async def clickhouse_answers() -> bool:
        try:
            return bool(await asyncio.to_thread(client.ping))
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False

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
    logging.getLogger("tracker.loader").info("stopped after loading %d clicks and %d conversions",
                                             loader.stats.clicks, loader.stats.conversions)


if __name__ == "__main__":
    main()
