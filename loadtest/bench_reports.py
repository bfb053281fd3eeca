"""Time `campaign_report` over 1,000,000 clicks and 50,000 conversions in a throw-away chDB database.

    .venv/bin/python loadtest/bench_reports.py [--clicks N] [--conversions N] [--runs 3]

The data looks like a month of a busy SMS program: 200k recipients, a few channels, campaigns and messages,
10% bot clicks (link previews), repeat taps, a second currency, duplicate pixel fires, refunds, purchases with
only a click id, only a recipient, or both. Rows are generated column by column and inserted in blocks of
200k with their types given, so the setup takes seconds and no DESCRIBE runs. Prints a markdown table of the
median of `--runs` runs per model and group_by.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import migrate
from tracker.events import click, conversion
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import campaign_report
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
BLOCK = 200_000
GROUP_BYS = ("campaign", "channel,source,campaign,message,day")
CHANNELS = ("sms", "sms", "sms", "whatsapp", "email")


def _insert(client: Any, table: str, columns: tuple[tuple[str, str], ...], data: dict[str, list[Any]]) -> None:
    client.insert(
        table,
        [data[name] for name, _ in columns],
        column_names=[name for name, _ in columns],
        column_type_names=[kind for _, kind in columns],
        column_oriented=True,
    )


def generate_clicks(client: Any, rng: random.Random, total: int) -> list[tuple[str, int, str]]:
    """Insert `total` clicks; returns (click_id, ts_ms, recipient_ref) of the human ones, for the orders."""
    recipients = [f"{rng.getrandbits(128):032x}" for _ in range(200_000)]
    campaigns = [f"campaign_{i:02d}" for i in range(20)]
    span_ms = DAYS * 86_400_000
    start_ms = int(START.timestamp() * 1000) - 7 * 86_400_000  # a week before the report: window look-back
    humans: list[tuple[str, int, str]] = []
    done = 0
    while done < total:
        size = min(BLOCK, total - done)
        data: dict[str, list[Any]] = {name: [] for name, _ in click.COLUMNS}
        for i in range(size):
            click_id = f"c{done + i:012d}{rng.getrandbits(40):010x}"
            ts_ms = start_ms + rng.randrange(span_ms + 7 * 86_400_000)
            campaign = rng.choice(campaigns)
            channel = rng.choice(CHANNELS)
            recipient = "" if rng.random() < 0.05 else rng.choice(recipients)
            is_bot = rng.random() < 0.10
            data["click_id"].append(click_id)
            data["ts"].append(datetime.fromtimestamp(ts_ms / 1000, UTC))
            data["code"].append(f"k{rng.randrange(5000)}")
            data["channel"].append(channel)
            data["campaign"].append(campaign)
            data["message"].append(f"{campaign}_m{rng.randrange(5)}")
            data["utm_source"].append("klaviyo" if channel == "email" else "attentive")
            data["utm_medium"].append(channel)
            data["utm_campaign"].append(campaign)
            data["utm_content"].append(f"v{rng.randrange(3)}")
            data["utm_term"].append("")
            data["tags"].append(["test"] if rng.random() < 0.01 else [])
            data["recipient_ref"].append(recipient)
            data["destination_host"].append("shop.example")
            data["method"].append("GET")
            data["is_bot"].append(is_bot)
            data["bot_reason"].append("preview" if is_bot else "")
            data["device_type"].append("mobile")
            data["os"].append("iOS")
            data["browser"].append("Safari")
            data["referer"].append("")
            data["ip_ref"].append(f"{rng.getrandbits(64):016x}")
            data["domain"].append("go.shop.example")
            if not is_bot:
                humans.append((click_id, ts_ms, recipient))
        _insert(client, "clicks", click.COLUMNS, data)
        done += size
    return humans


def generate_conversions(client: Any, rng: random.Random, total: int, humans: list[tuple[str, int, str]]) -> None:
    data: dict[str, list[Any]] = {name: [] for name, _ in conversion.COLUMNS}

    def add(order_id: str, kind: str, value: Decimal, currency: str, click_id: str, recipient: str, ts_ms: int) -> None:
        for name, item in (("order_id", order_id), ("type", kind), ("value", value), ("currency", currency),
                           ("click_id", click_id), ("recipient_ref", recipient),
                           ("ts", datetime.fromtimestamp(ts_ms / 1000, UTC)), ("source", "pixel"), ("verified", True)):
            data[name].append(item)

    purchases: list[tuple[str, Decimal, str, int]] = []
    while len(data["order_id"]) < total:
        click_id, click_ms, recipient = rng.choice(humans)
        order_id = f"o{len(purchases):07d}"
        value = Decimal(rng.randrange(500, 25_000)) / 100
        currency = "USD" if rng.random() < 0.1 else "EUR"
        ts_ms = click_ms + rng.randrange(3 * 86_400_000)  # up to 3 days later: some beyond the SMS window
        how = rng.random()
        if how < 0.6:
            add(order_id, "purchase", value, currency, click_id, recipient, ts_ms)
        elif how < 0.85:
            add(order_id, "purchase", value, currency, click_id, "", ts_ms)
        elif how < 0.95:
            add(order_id, "purchase", value, currency, "", recipient, ts_ms)  # cross-device, API with recipient
        else:
            add(order_id, "purchase", value, currency, "", "", ts_ms)  # no way to attribute
        purchases.append((order_id, value, currency, ts_ms))
        if rng.random() < 0.04:  # the pixel fired again on a reload
            add(order_id, "purchase", value, currency, click_id, "", ts_ms + 5000)
        if rng.random() < 0.06:
            add(order_id, "refund", value, currency, "", "", ts_ms + 86_400_000)
    _insert(client, "conversions", conversion.COLUMNS, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_reports_") as tmp:
        client = connect(f"chdb://{tmp}/clickhouse", database="bench")
        migrate(client)
        rng = random.Random(20261101)
        began = time.perf_counter()
        humans = generate_clicks(client, rng, args.clicks)
        generate_conversions(client, rng, args.conversions, humans)
        client.command("OPTIMIZE TABLE clicks FINAL")
        client.command("OPTIMIZE TABLE conversions FINAL")
        print(f"generated {args.clicks:,} clicks and {args.conversions:,} conversions "
              f"in {time.perf_counter() - began:.1f}s\n")

        settings = Settings.from_env({"TRACKER_ATTRIBUTION_WINDOW_SMS": "1d"})
        now = START + timedelta(days=DAYS)
        print("| model | group_by | rows | median ms | runs ms |")
        print("| --- | --- | ---: | ---: | --- |")
        for group_by in GROUP_BYS:
            for model in MODELS:
                query = ReportQuery.from_params(
                    {"from": "2026-11-01", "to": "2026-11-30", "model": model, "group_by": group_by,
                     "exclude_tags": "test"}, now)
                timings = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    report = campaign_report(client, query, settings)
                    timings.append((time.perf_counter() - began) * 1000)
                runs = ", ".join(f"{t:.0f}" for t in timings)
                print(f"| {model} | `{group_by}` | {len(report.rows)} | {statistics.median(timings):.0f} | {runs} |")
        client.close()


if __name__ == "__main__":
    main()
