"""`loadtest/run`: a headless Locust run against a deployment, its SLO checks, then the loss check.

By default it starts `tracker dev` in a temp folder on free loopback ports, runs the locustfile for `--duration`,
stops the dev with Ctrl-C (which drains every event into ClickHouse), and then counts, per click id and per order
id the load generator was answered for, the rows in ClickHouse: 0 lost and 0 doubled are required. With `--host`
it loads a running deployment instead; its loss check needs `--clickhouse-url` of a ClickHouse server (a chDB
folder is locked by the process using it) and otherwise is skipped.

Exit status: 0 when every SLO and the loss check pass, 1 when one fails, 2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest.deployment import REPO, Deployment, DevProcess
from loadtest.loss_check import LossReport, check_live, check_stopped_chdb
from loadtest.slo import Check, LoadFigures, Thresholds, evaluate, read_figures

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def is_loopback(url: str) -> bool:
    """The same guard as the locustfile's (which cannot be imported here: importing Locust monkey-patches)."""
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="loadtest/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_argument_group("target (default: a tracker dev started for this run)")
    target.add_argument("--host", default="", help="edge base URL of a running deployment, e.g. http://127.0.0.1:8080")
    target.add_argument("--admin-host", default="", help="its admin base URL (default: the edge's port + 1)")
    target.add_argument("--api-key", default=os.environ.get("TRACKER_LOADTEST_API_KEY", ""),
                        help="its admin API key (default: $TRACKER_LOADTEST_API_KEY)")
    target.add_argument("--clickhouse-url", default="", help="http(s) URL of its ClickHouse, for the loss check")
    target.add_argument("--pixel-secret", default=os.environ.get("TRACKER_LOADTEST_PIXEL_SECRET", ""),
                        help="its TRACKER_SECRET, to sign pixels (default: $TRACKER_LOADTEST_PIXEL_SECRET)")
    target.add_argument("--durability", choices=("ack", "fast"), default="ack",
                        help="TRACKER_DURABILITY of the self-started tracker dev")
    target.add_argument("--allow-remote", action="store_true", help="allow hosts that are not loopback")

    load = parser.add_argument_group("load")
    load.add_argument("--duration", type=float, default=60.0, help="seconds of load (default: 60)")
    load.add_argument("--users", type=int, default=100, help="concurrent simulated users (default: 100)")
    load.add_argument("--spawn-rate", type=float, default=0.0, help="users started per second (default: all at once)")
    load.add_argument("--links", type=int, default=5000, help="per-recipient links created first (default: 5000)")
    load.add_argument("--think-time", type=float, default=0.25,
                      help="upper bound of a user's random pause between steps, s (default: 0.25)")
    load.add_argument("--recipient-weight", type=int, default=70)
    load.add_argument("--bot-weight", type=int, default=15)
    load.add_argument("--shopper-weight", type=int, default=15)
    load.add_argument("--provider-weight", type=int, default=20,
                      help="Provider users: delivery receipts, two per text (self-started dev, or --host with "
                           "$TRACKER_LOADTEST_TWILIO_TOKEN and $TRACKER_LOADTEST_TELNYX_KEY)")
    load.add_argument("--locust-processes", type=int, default=0, help="Locust --processes (default: one process)")

    slo = parser.add_argument_group("service level objectives")
    slo.add_argument("--max-failure-pct", type=float, default=Thresholds.max_failure_pct,
                     help=f"failed requests, %% of all (default: {Thresholds.max_failure_pct})")
    slo.add_argument("--max-p50-ms", type=float, default=Thresholds.max_p50_ms,
                     help=f"redirect p50 as the client sees it (default: {Thresholds.max_p50_ms})")
    slo.add_argument("--max-p99-ms", type=float, default=Thresholds.max_p99_ms,
                     help=f"redirect p99 as the client sees it (default: {Thresholds.max_p99_ms})")
    slo.add_argument("--drain-timeout", type=float, default=60.0,
                     help="with --clickhouse-url: how long to wait for the loader to catch up (default: 60)")

    output = parser.add_argument_group("output")
    output.add_argument("--summary", default="", help="write the summary as JSON to this file")
    output.add_argument("--work", default="", help="folder for logs, records and the dev's data (default: a temp dir,"
                        " removed after a passing run)")
    output.add_argument("--keep", action="store_true", help="keep the work folder even when the run passes")
    args = parser.parse_args(argv)
    if args.host and not args.admin_host:
        edge = urlsplit(args.host)
        args.admin_host = f"{edge.scheme}://{edge.hostname}:{(edge.port or 80) + 1}"
    for url in (args.host, args.admin_host):
        if url and not args.allow_remote and not is_loopback(url):
            parser.error(f"{url} is not a loopback address; add --allow-remote if you mean to load it")
    if args.host and args.clickhouse_url.startswith("chdb:"):
        parser.error("--clickhouse-url: a running deployment holds its chDB folder locked; give an http(s) URL")
    if args.duration <= 0 or args.users <= 0 or args.links <= 0:
        parser.error("--duration, --users and --links must be positive")
    return args


def run_locust(args: argparse.Namespace, target: Deployment, run_id: str, work: Path) -> Path:
    """Runs Locust headless to its time limit; returns the record folder. Its log is `work/locust.log`."""
    records = work / "records"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate or args.users),
        "--run-time", f"{max(1, round(args.duration))}s", "--stop-timeout", "10",
        "--host", target.edge_url, "--admin-host", target.admin_url, "--links", str(args.links),
        "--run-id", run_id, "--record-dir", str(records), "--think-time", str(args.think_time),
        "--recipient-weight", str(args.recipient_weight), "--bot-weight", str(args.bot_weight),
        "--shopper-weight", str(args.shopper_weight), "--provider-weight", str(args.provider_weight),
        "--json-file", str(work / "locust"), "--csv", str(work / "locust"), "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]
    if args.locust_processes:
        command += ["--processes", str(args.locust_processes)]
    if args.allow_remote:
        command.append("--allow-remote")
    # Secrets go through the environment, not argv (visible to every user in ps).
    env = {**os.environ, "LOCUST_API_KEY": target.api_key, "LOCUST_PIXEL_SECRET": target.secret,
           "LOCUST_TWILIO_TOKEN": target.twilio_token, "LOCUST_TELNYX_PRIVATE_KEY": target.telnyx_private_key,
           "PYTHONPATH": str(REPO)}
    limit = args.duration + 120 + args.links / 1000  # link creation, ramp-down, stats: bounded all the same
    with (work / "locust.log").open("w") as log:
        done = subprocess.run(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit)
    if done.returncode != 0:
        tail = (work / "locust.log").read_text()[-3000:]
        raise RuntimeError(f"locust exited with {done.returncode}:\n{tail}")
    return records


def fmt(n: float) -> str:
    return f"{n:,.0f}".replace(",", " ")


def summary_table(figures: LoadFigures, checks: list[Check], losses: list[LossReport], dev_ok: bool | None) -> str:
    rows = [
        ("requests", f"{fmt(figures.requests)} in {figures.seconds:.1f} s", "", ""),
        ("redirects (302 expected)", f"{fmt(figures.redirects)} ({figures.redirects_per_s:.0f}/s)", "", ""),
        ("pixels fired", fmt(figures.pixels), "", ""),
    ]
    units = {"failure rate %": " %", "redirect p50 ms": " ms", "redirect p99 ms": " ms", "redirects answered": ""}
    for check in checks:
        comparator = ">=" if check.name == "redirects answered" else "<="
        unit = units.get(check.name, "")
        value = fmt(check.value) if check.name == "redirects answered" else f"{check.value:g}"
        rows.append((check.name.removesuffix(" %").removesuffix(" ms"), f"{value}{unit}",
                     f"{comparator} {check.limit:g}{unit}", "ok" if check.ok else "FAIL"))
    for loss in losses:
        label = {"clicks": "302s", "conversions": "accepted orders"}.get(loss.kind, "accepted events")
        rows.append((f"{loss.kind}: {label} / with a row", f"{fmt(loss.received)} / {fmt(loss.found)}", "", ""))
        extra = f", {fmt(loss.unexpected)} unmatched rows" if loss.unexpected else ""
        rows.append((f"{loss.kind}: lost / doubled", f"{loss.lost} / {loss.doubled}{extra}", "0 / 0",
                     "ok" if loss.ok else "FAIL"))
    if not losses:
        rows.append(("loss check", "skipped (no ClickHouse to read)", "", ""))
    if dev_ok is not None:
        rows.append(("tracker dev stopped and drained", "yes" if dev_ok else "no", "yes", "ok" if dev_ok else "FAIL"))
    widths = [max(len(str(row[i])) for row in [("check", "value", "limit", "")] + rows) for i in range(4)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in [("check", "value", "limit", "")] + rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = f"lt_{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    work = Path(args.work).absolute() if args.work else Path(tempfile.mkdtemp(prefix="tracker-loadtest-"))
    work.mkdir(parents=True, exist_ok=True)
    dev: DevProcess | None = None
    dev_ok: bool | None = None
    losses: list[LossReport] = []
    try:
        if args.host:
            target = Deployment(edge_url=args.host, admin_url=args.admin_host, api_key=args.api_key,
                                secret=args.pixel_secret, clickhouse_url=args.clickhouse_url,
                                twilio_token=os.environ.get("TRACKER_LOADTEST_TWILIO_TOKEN", ""),
                                telnyx_private_key=os.environ.get("TRACKER_LOADTEST_TELNYX_KEY", ""))
            what = f"{args.host}"
        else:
            dev = DevProcess(work, args.durability)
            target = dev.start()
            what = f"tracker dev (self-started, {args.durability}, {target.edge_url})"
        print(f"run {run_id}: {args.users} users for {args.duration:g} s against {what}; work folder {work}",
              flush=True)
        records = run_locust(args, target, run_id, work)
        figures = read_figures(work / "locust.json", sorted(records.glob(f"latency-{run_id}-*.json")),
                               work / "locust_failures.csv")
        checks = evaluate(figures, Thresholds(args.max_failure_pct, args.max_p50_ms, args.max_p99_ms))
        if dev is not None:
            code = dev.stop()
            dev_ok = code == 0 and "stopped cleanly" in dev.output
            if not dev_ok:
                print(f"tracker dev exited with {code}; see {dev.log_path}", file=sys.stderr)
            losses = check_stopped_chdb(target.clickhouse_url, records, run_id)
        elif target.clickhouse_url:
            losses = check_live(target.clickhouse_url, records, run_id, args.drain_timeout)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"loadtest/run: {exc}", file=sys.stderr)
        if args.summary:
            Path(args.summary).write_text(json.dumps({"ok": False, "run_id": run_id, "error": str(exc)[-2000:],
                                                      "work": str(work)}, indent=2))
        print(f"work folder kept: {work}")
        return 2
    finally:
        if dev is not None:
            dev.stop()
            dev.kill()
    ok = all(c.ok for c in checks) and all(loss.ok for loss in losses) and dev_ok is not False
    print(summary_table(figures, checks, losses, dev_ok))
    for error, count in sorted(figures.errors.items(), key=lambda item: -item[1])[:10]:
        print(f"  {count} x {error}")
    summary: dict[str, Any] = {
        "ok": ok,
        "run_id": run_id,
        "target": {"edge": target.edge_url, "admin": target.admin_url, "self_started": target.self_started,
                   "durability": args.durability if target.self_started else None},
        "load": {**asdict(figures), "failure_pct": figures.failure_pct, "redirects_per_s": figures.redirects_per_s,
                 "users": args.users, "duration_s": args.duration, "links": args.links},
        "slo": [asdict(c) for c in checks],
        "loss": {"checked": bool(losses), "ok": all(loss.ok for loss in losses),
                 **{loss.kind: loss.to_json() for loss in losses}},
        "dev_stopped_cleanly": dev_ok,
        "work": str(work),
    }
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=2))
    if ok and not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder kept: {work}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1
