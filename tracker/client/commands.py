"""Runs a parsed `tracker links | conversions | report` command; every failure is one line and exit 1."""

from __future__ import annotations

import argparse
import sys

from tracker.client import conversions, links, report
from tracker.client.admin_api import AdminApi, ClientError
from tracker.client.output import progress
from tracker.settings import Settings

REPORT_PARAMETERS = ("from", "to", "group_by", "model", "window", "currency", "exclude_tags", "view_window")


def run_client(args: argparse.Namespace, settings: Settings) -> int:
    """The exit code of the command: 0 done, 1 failed or partly done (what and where went to stderr)."""
    try:
        with AdminApi(settings.admin_url, settings.api_key) as api:
            return _dispatch(api, args)
    except ClientError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tracker: interrupted", file=sys.stderr)
        return 130


def _dispatch(api: AdminApi, args: argparse.Namespace) -> int:
    if args.command == "links":
        options = links.LinkOptions(
            destination=getattr(args, "destination", "") or "", channel=getattr(args, "channel", ""),
            campaign=getattr(args, "campaign", ""), message=getattr(args, "message", ""),
            tags=tuple(getattr(args, "tag", []) or ()), expires_at=getattr(args, "expires_at", ""),
            domain=getattr(args, "domain", ""),
            utm={key: getattr(args, f"utm_{key}", "") for key in links.UTM_KEYS if getattr(args, f"utm_{key}", "")},
        )
        if args.links_command == "create":
            links.create(api, options, args.code, args.recipient, args.format)
            return 0
        if args.links_command == "import":
            if args.output == "-":
                return links.import_recipients(api, options, args.csv_file, sys.stdout)
            try:
                with open(args.output, "w", newline="", encoding="utf-8") as out:
                    return links.import_recipients(api, options, args.csv_file, out)
            except OSError as exc:
                raise ClientError(f"{args.output}: {exc.strerror}") from None
        filters = {name: getattr(args, name) for name in ("campaign", "message", "tag", "q", "domain")}
        links.list_links(api, filters, args.limit, args.format)
        return 0
    if args.command == "conversions":
        totals = conversions.import_conversions(api, args.csv_file, progress("importing conversions"))
        return conversions.report_totals(args.csv_file, totals)
    params = {name: getattr(args, name) for name in REPORT_PARAMETERS}
    report.report(api, params, args.format, bots=args.bots)
    return 0
