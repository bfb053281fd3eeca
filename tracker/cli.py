"""`tracker dev | edge | admin | loader | migrate`: the command line, parsed and dispatched; nothing else.

Each command's work lives in its room (tracker.dev.runner, tracker.loader.app, tracker.clickhouse.migrate, the
app factories of tracker.edge.app and tracker.admin.app); those imports are made when the command is chosen, so
`tracker edge` never loads chDB or the report code.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence

import uvloop

from tracker.json_logs import configure_logging
from tracker.serving import serve
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
    migrate.add_argument("--cluster", default="", help="apply the cluster variant of the schema ON CLUSTER this name")

    args = parser.parse_args(argv)
    configure_logging()
    try:
        if args.command == "dev":
            from tracker.dev.runner import run_dev

            uvloop.run(run_dev(args.host, args.edge_port, args.admin_port, args.data, args.demo, args.demo_port))
        elif args.command == "edge":
            Settings.from_env().require("TRACKER_REDIS_URL", "TRACKER_SECRET")
            serve("tracker.edge.app:app_from_env", args.host, args.port, args.workers, args.forwarded_allow_ips)
        elif args.command == "admin":
            Settings.from_env().require("TRACKER_REDIS_URL", "TRACKER_SECRET", "TRACKER_API_KEYS")
            serve("tracker.admin.app:app_from_env", args.host, args.port, 1, args.forwarded_allow_ips)
        elif args.command == "loader":
            from tracker.loader.app import run_loader

            asyncio.run(run_loader(Settings.from_env(), args.name, args.host, args.port))
        elif args.command == "migrate":
            from tracker.clickhouse.migrate import run_migrate

            run_migrate(Settings.from_env(), args.cluster)
    except SettingsError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
