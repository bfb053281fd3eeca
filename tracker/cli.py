"""`tracker dev | edge | admin | loader | migrate | links | conversions | report`: the command line, parsed and
dispatched; nothing else.

Each command's work lives in its room (tracker.dev.runner, tracker.loader.app, tracker.clickhouse.migrate, the
app factories of tracker.edge.app and tracker.admin.app); those imports are made when the command is chosen, so
`tracker edge` never loads chDB or the report code. `links`, `conversions` and `report` are clients of the admin
API (tracker.client), configured by TRACKER_ADMIN_URL and TRACKER_API_KEY.
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

    _client_commands(commands)

    args = parser.parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        from tracker.client.commands import run_client

        try:
            settings = Settings.from_env()
        except SettingsError as exc:
            print(f"tracker: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise SystemExit(run_client(args, settings))
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


CLIENT_COMMANDS = ("links", "conversions", "report")
UTM_OPTIONS = ("source", "medium", "campaign", "content", "term")


def _link_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", default="", help="short domain of the links (default: the host of "
                                                      "TRACKER_SHORT_BASE)")
    parser.add_argument("--campaign", default="")
    parser.add_argument("--message", default="", help="message label (e.g. 'Reminder 1')")
    parser.add_argument("--channel", default="", help="default: utm medium, else sms")
    parser.add_argument("--tag", action="append", default=[], help="a tag; repeat for more")
    parser.add_argument("--expires-at", default="", help="ISO 8601 date-time")
    for key in UTM_OPTIONS:
        parser.add_argument(f"--utm-{key}", default="")


def _client_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    links = commands.add_parser("links", help="create, import and list short links (admin API client)")
    links_commands = links.add_subparsers(dest="links_command", required=True)
    create = links_commands.add_parser("create", help="create one short link; prints its short URL")
    create.add_argument("destination")
    create.add_argument("--code", default="", help="a vanity code: 3-64 of A-Z a-z 0-9 _ -")
    create.add_argument("--recipient", default="", help="phone (+E.164) or e-mail; only its HMAC is stored")
    _link_options(create)
    create.add_argument("--format", choices=("url", "json", "table"), default="url")
    imports = links_commands.add_parser(
        "import", help="one link per row of a CSV with a recipient, phone or email column; writes the rows back "
                       "with recipient_ref, code and short_url")
    imports.add_argument("csv_file")
    imports.add_argument("--destination", default="", help="for every row without a destination column")
    _link_options(imports)
    imports.add_argument("-o", "--output", default="-", help="where the CSV with the codes goes (default: stdout)")
    listing = links_commands.add_parser("list", help="list links, newest first")
    for name in ("campaign", "message", "tag", "q", "domain"):
        listing.add_argument(f"--{name}", default="", help="substring of code or destination" if name == "q" else None)
    listing.add_argument("--limit", type=int, default=100, help="how many links (0: all)")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table")

    conversions = commands.add_parser("conversions", help="import conversions from CSV (admin API client)")
    conversions_commands = conversions.add_subparsers(dest="conversions_command", required=True)
    conversions_import = conversions_commands.add_parser(
        "import", help="offline and point-of-sale orders: a CSV with a header of conversion field names")
    conversions_import.add_argument("csv_file")

    report = commands.add_parser("report", help="the campaign report as a table, CSV or JSON (admin API client)")
    for name in ("from", "to", "group-by", "model", "window", "currency", "exclude-tags", "view-window"):
        report.add_argument(f"--{name}", default="")
    report.add_argument("--bots", action="store_true", help="the bots report: bot clicks by reason")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")


if __name__ == "__main__":
    main()
