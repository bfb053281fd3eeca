"""`tracker dev | edge | admin | loader | migrate | links | conversions | report`: the command line, parsed and
dispatched; nothing else.

Each command's work lives in its room (tracker.dev.runner, tracker.loader.app, tracker.clickhouse.migrate, the
app factories of tracker.edge.app and tracker.admin.app); those imports are made when the command is chosen, so
`tracker edge` never loads chDB or the report code. `links`, `conversions` and `report` are clients of the admin
API (tracker.client), configured by TRACKER_ADMIN_URL and TRACKER_API_KEY.

Every parser is a `CommandParser`, subcommands included (argparse builds them with the parent's class), so each
command's `--help` shows the defaults of its options, the environment variables it reads, and `--version`.
What a user can get wrong at start (a variable, a port in use, a Redis or ClickHouse that does not answer) ends
as one line on stderr and a non-zero exit: 2 for a bad variable, 1 for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import uvloop

from tracker.json_logs import configure_logging
from tracker.serving import serve
from tracker.settings import VARIABLES, Settings, SettingsError
from tracker.startup import StartupError, port_free, wait_for_redis

# The variables of the admin API's command-line clients; every other one is read by the server commands.
CLIENT_VARIABLES = ("TRACKER_ADMIN_URL", "TRACKER_API_KEY")
SERVER_VARIABLES = tuple(name for name in VARIABLES if name not in CLIENT_VARIABLES)
METRICS_PORT = 9108


def package_version() -> str:
    try:
        return version("sms-click-tracker")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's help ends with its default (unless it has none); the epilog is printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if action.option_strings and shows_default(default) and "default" not in text.lower():
            text += " (default: %(default)s)"
        return text


def shows_default(default: object) -> bool:
    """Whether `--help` prints an option's default: not for flags, unset values or empty lists."""
    return default not in (None, False, "", argparse.SUPPRESS) and default != []


def environment_help(names: Sequence[str]) -> str:
    """The epilog: each variable the command reads, its default and what it does (from settings.VARIABLES)."""
    lines = ["environment variables:"]
    for name in names:
        default, meaning = VARIABLES[name]
        lines.append(f"  {name} (default: {default or 'unset'})")
        lines += textwrap.wrap(meaning, width=100, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


class CommandParser(argparse.ArgumentParser):
    """`variables`: the environment variables the command reads, listed after its options in `--help`."""

    def __init__(self, *args: Any, variables: Sequence[str] = (), **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        known = [name for name in variables if name in VARIABLES]
        if known and "epilog" not in kwargs:
            kwargs["epilog"] = environment_help(known)
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action="version", version=f"tracker {package_version()}",
                          help="print the version and exit")

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """An option without help still shows its default (argparse prints nothing for it otherwise)."""
        optional = bool(args) and str(args[0]).startswith("-")
        if kwargs.get("help") is None and optional and shows_default(kwargs.get("default")):
            kwargs["help"] = "(default: %(default)s)"
        return super().add_argument(*args, **kwargs)


def build_parser() -> CommandParser:
    parser = CommandParser(prog="tracker", description="SMS link redirect and click-to-revenue tracker",
                           variables=SERVER_VARIABLES)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="all on one machine: embedded Redis and ClickHouse, edge, admin, loader",
                              description="Everything on one machine for trying it out: an embedded redis-server "
                                          "and chDB (unless TRACKER_REDIS_URL / TRACKER_CLICKHOUSE_URL are set), "
                                          "the edge, the admin and the loader, all kept under --data.",
                              variables=SERVER_VARIABLES)
    dev.add_argument("--host", default="127.0.0.1", help="address of the edge and the admin")
    dev.add_argument("--edge-port", type=int, default=8080, help="port of the edge (short links, /px.gif, /t.js)")
    dev.add_argument("--admin-port", type=int, default=8081, help="port of the admin (API, /reports dashboard)")
    add_metrics_options(dev)
    dev.add_argument("--data", default="data",
                     help="folder for Redis, ClickHouse (unless TRACKER_CLICKHOUSE_URL is set), the secret, the "
                          "API key and the Redis password")
    dev.add_argument("--demo", action="store_true", help="also seed demo campaigns and serve a demo storefront")
    dev.add_argument("--demo-port", type=int, default=None, help="demo storefront port (default: admin port + 1)")

    edge = commands.add_parser("edge", help="the public redirect app (Redis only)",
                               description="The public app: /{code} redirects, /px.gif, /t.js and the hooks. "
                                           "Stateless; needs Redis only.", variables=SERVER_VARIABLES)
    edge.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    edge.add_argument("--port", type=int, default=8080, help="public port")
    edge.add_argument("--workers", type=int, default=1, help="worker processes")
    edge.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                      help="proxies whose X-Forwarded-For is trusted (uvicorn's option)")
    add_metrics_options(edge)

    admin = commands.add_parser("admin", help="links API, conversions API, reports, dashboard",
                                description="The internal app: links, conversions and reports API, the dashboard, "
                                            "/healthz, /readyz and /metrics.", variables=SERVER_VARIABLES)
    admin.add_argument("--host", default="127.0.0.1", help="address to listen on")
    admin.add_argument("--port", type=int, default=8081, help="port")
    admin.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies whose X-Forwarded-For is trusted (uvicorn's option)")

    loader = commands.add_parser("loader", help="moves events from the Redis stream into ClickHouse",
                                 description="Moves click, conversion and message events from the Redis stream "
                                             "into ClickHouse, exactly once.", variables=SERVER_VARIABLES)
    loader.add_argument("--name", default=socket.gethostname(),
                        help="consumer name; keep it stable across restarts, unique per running loader")
    loader.add_argument("--host", default="127.0.0.1", help="address of /healthz, /readyz and /metrics")
    loader.add_argument("--port", type=int, default=8082, help="port of /healthz, /readyz and /metrics; 0: none")

    migrate = commands.add_parser("migrate", help="apply the ClickHouse schema (idempotent)",
                                  description="Applies the ClickHouse schema files shipped in the package, once "
                                              "each, in order.", variables=("TRACKER_CLICKHOUSE_URL",
                                                                            "TRACKER_RETENTION_DAYS",
                                                                            "TRACKER_START_TIMEOUT"))
    migrate.add_argument("--cluster", default="", help="apply the cluster variant of the schema ON CLUSTER this name")

    _client_commands(commands)
    return parser


def add_metrics_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--metrics-host", default="127.0.0.1",
                         help="address of the edge's /metrics (keep it private: loopback or an internal network)")
    command.add_argument("--metrics-port", type=int, default=METRICS_PORT,
                         help="port of the edge's /metrics, never the public port; 0: none")


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
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
        run(args)
    except SettingsError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except StartupError as exc:
        print(f"tracker {args.command}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # Ctrl-C while waiting for a dependency at start
        raise SystemExit(130) from None


def run(args: argparse.Namespace) -> None:
    if args.command == "dev":
        from tracker.dev.runner import DevOptions, run_dev

        uvloop.run(run_dev(DevOptions(args.host, args.edge_port, args.admin_port, args.data, args.demo,
                                      args.demo_port, args.metrics_host, args.metrics_port)))
    elif args.command == "edge":
        settings = Settings.from_env()
        settings.require("TRACKER_REDIS_URL", "TRACKER_SECRET")
        port_free(args.host, args.port, "--port")
        port_free(args.metrics_host, args.metrics_port, "--metrics-port")
        from tracker.events.spill import SpillError, SpillLog

        try:  # before any worker starts: one line naming the folder, not a traceback per worker
            SpillLog(Path(settings.spill_dir), settings.spill_max_mb).open()
        except SpillError as exc:
            raise SettingsError(f"TRACKER_SPILL_DIR: {exc}") from None
        wait_for_redis(settings.redis_url, settings.start_timeout)
        metrics = (args.metrics_host, args.metrics_port) if args.metrics_port else None
        serve("tracker.edge.app:app_from_env", args.host, args.port, args.workers, args.forwarded_allow_ips,
              metrics=metrics)
    elif args.command == "admin":
        from tracker.admin.app import Admin
        from tracker.clickhouse.connect import connect_settings

        settings = Settings.from_env()
        settings.require("TRACKER_REDIS_URL", "TRACKER_SECRET", "TRACKER_API_KEYS")
        port_free(args.host, args.port, "--port")
        wait_for_redis(settings.redis_url, settings.start_timeout)
        app = Admin(settings, clickhouse=connect_settings(settings)).app
        serve(app, args.host, args.port, 1, args.forwarded_allow_ips)
    elif args.command == "loader":
        from tracker.loader.app import run_loader

        settings = Settings.from_env()
        settings.require("TRACKER_REDIS_URL")
        if args.port:
            port_free(args.host, args.port, "--port")
        wait_for_redis(settings.redis_url, settings.start_timeout)
        asyncio.run(run_loader(settings, args.name, args.host, args.port))
    elif args.command == "migrate":
        from tracker.clickhouse.migrate import run_migrate

        run_migrate(Settings.from_env(), args.cluster)


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
    links = commands.add_parser("links", help="create, import and list short links (admin API client)",
                                variables=CLIENT_VARIABLES)
    links_commands = links.add_subparsers(dest="links_command", required=True)
    create = links_commands.add_parser("create", help="create one short link; prints its short URL",
                                       variables=CLIENT_VARIABLES)
    create.add_argument("destination")
    create.add_argument("--code", default="", help="a vanity code: 3-64 of A-Z a-z 0-9 _ -")
    create.add_argument("--recipient", default="", help="phone (+E.164) or e-mail; only its HMAC is stored")
    _link_options(create)
    create.add_argument("--format", choices=("url", "json", "table"), default="url")
    imports = links_commands.add_parser(
        "import", help="one link per row of a CSV with a recipient, phone or email column; writes the rows back "
                       "with recipient_ref, code and short_url", variables=CLIENT_VARIABLES)
    imports.add_argument("csv_file")
    imports.add_argument("--destination", default="", help="for every row without a destination column")
    _link_options(imports)
    imports.add_argument("-o", "--output", default="-", help="where the CSV with the codes goes (default: stdout)")
    listing = links_commands.add_parser("list", help="list links, newest first", variables=CLIENT_VARIABLES)
    for name in ("campaign", "message", "tag", "q", "domain"):
        listing.add_argument(f"--{name}", default="", help="substring of code or destination" if name == "q" else None)
    listing.add_argument("--limit", type=int, default=100, help="how many links (0: all)")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table")

    conversions = commands.add_parser("conversions", help="import conversions from CSV (admin API client)",
                                      variables=CLIENT_VARIABLES)
    conversions_commands = conversions.add_subparsers(dest="conversions_command", required=True)
    conversions_import = conversions_commands.add_parser(
        "import", help="offline and point-of-sale orders: a CSV with a header of conversion field names",
        variables=CLIENT_VARIABLES)
    conversions_import.add_argument("csv_file")

    report = commands.add_parser("report", help="the campaign report as a table, CSV or JSON (admin API client)",
                                 variables=CLIENT_VARIABLES)
    for name in ("from", "to", "group-by", "model", "window", "currency", "exclude-tags", "view-window"):
        report.add_argument(f"--{name}", default="")
    report.add_argument("--bots", action="store_true", help="the bots report: bot clicks by reason")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")


if __name__ == "__main__":
    main()
