"""An SMS blast end to end: a burst of taps on never-tapped links, then how soon the report counts them all.

    .venv/bin/python -m loadtest.bench_burst [--taps 100000] [--workers 2] [--connections 64]

Creates `--taps` per-recipient links in a fresh embedded redis-server (AOF on, as `tracker dev` runs it),
starts `tracker edge --workers N` in `ack` mode and, in this process, the loader into a throw-away chDB
database. wrk then taps every link exactly once (`loadtest/wrk/once.lua`, a phone's user agent). The last
tap is the moment the edge's /metrics counts every tap answered with a 302 (its counters are flushed every
second, so this moment is up to a second late, which only makes the figure below larger). From then, the
campaign report (`campaign_report`, what `GET /v1/reports/campaigns` answers) is asked again and again until
it counts every tap. Prints one markdown row: the tap rate, the seconds from the last tap to a report with
every click, and what the loader moved meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from loadtest.redirect_bench import SECRET, create_links, ensure_wrk
from shortlinks.redis_connection import connect_redis
from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import migrate
from tracker.dev.embedded_redis import EmbeddedRedis, free_port
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter
from tracker.reports.campaign import campaign_report
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ONCE = Path(__file__).resolve().parent / "wrk" / "once.lua"
DEADLINE = 120.0


def start_edge(redis_url: str, work: Path, workers: int) -> tuple[subprocess.Popen[bytes], int, int]:
    """The edge and its ports: the public one and its metrics port."""
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PYTHONPATH=str(ROOT), TRACKER_REDIS_URL=redis_url, TRACKER_SECRET=SECRET,
               TRACKER_SHORT_BASE="http://127.0.0.1", TRACKER_DURABILITY="ack",
               TRACKER_SPILL_DIR=str(work / "spill"))
    with (work / "edge.log").open("wb") as log:
        edge = subprocess.Popen([sys.executable, "-m", "tracker.cli", "edge", "--port", str(port), "--workers",
                                 str(workers), "--metrics-port", str(metrics_port)], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return edge, port, metrics_port
        except OSError:
            time.sleep(0.05)  # a child process we cannot be notified by: poll its port, bounded
    raise SystemExit(f"edge not ready: {(work / 'edge.log').read_text()[-2000:]}")


class LoaderThread:
    """The product's loader on its own event loop, as `tracker loader` runs it, until `stop()`."""

    def __init__(self, redis_url: str, clickhouse: object) -> None:
        self.loader: Loader | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(redis_url, clickhouse)), daemon=True)

    def start(self) -> LoaderThread:
        self._thread.start()
        self._ready.wait(30)
        return self

    async def _run(self, redis_url: str, clickhouse: object) -> None:
        self.loader = Loader(connect_redis(redis_url), clickhouse_inserter(clickhouse), stream_names(1), "burst")
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await self.loader.run()
        await self.loader.redis.aclose()

    def stop(self) -> None:
        assert self.loader is not None
        self._loop.call_soon_threadsafe(self.loader.stop.set)
        self._thread.join(60)


def redirects(metrics_port: int) -> int:
    """302s the edge has answered, from its /metrics (on its metrics port)."""
    connection = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=2)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('tracker_redirects_total{status="302"}')))


def counted_clicks(clickhouse: object, since: datetime) -> int:
    query = ReportQuery.from_params({"from": since.isoformat()}, datetime.now(UTC))
    report = campaign_report(clickhouse, query, Settings())  # type: ignore[arg-type]
    return sum(int(row["clicks"]) for row in report.rows)  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="tracker-burst-"))
    redis_server = EmbeddedRedis(work / "redis").start()
    edge: subprocess.Popen[bytes] | None = None
    tapping: subprocess.Popen[str] | None = None
    try:
        codes = create_links(redis_server.url, args.taps)
        (work / "codes.txt").write_text("\n".join(["-placeholder-", *codes]) + "\n")  # see wrk/once.lua
        clickhouse = connect(f"chdb://{work / 'clickhouse'}", database="burst")
        migrate(clickhouse)
        since = datetime.now(UTC).replace(microsecond=0)
        edge, port, metrics_port = start_edge(redis_server.url, work, args.workers)
        loader = LoaderThread(redis_server.url, clickhouse).start()
        load_before = os.getloadavg()[0]
        tapping = subprocess.Popen([wrk, "-t1", f"-c{args.connections}", "-d600s", "--timeout", "5s", "-s",
                                    str(ONCE), f"http://127.0.0.1:{port}", "--", str(work / "codes.txt")],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        while redirects(metrics_port) < args.taps:  # wrk's thread stops after the last code, but wrk waits out -d
            if tapping.poll() is not None or time.monotonic() - started > 600:
                raise SystemExit(f"the taps did not all get a 302: {tapping.communicate()[0][-800:]}")
            time.sleep(0.02)
        last_tap = time.monotonic()
        assert tapping is not None
        tapping.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        output = tapping.communicate(timeout=30)[0]
        line = next((x for x in output.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise SystemExit(f"wrk printed no result: {output[-800:]}")
        taps = json.loads(line[len("BENCH "):])
        counted = 0
        while time.monotonic() - last_tap < DEADLINE:
            counted = counted_clicks(clickhouse, since)
            if counted >= args.taps:
                break
        seconds = time.monotonic() - last_tap
        loader.stop()
        assert loader.loader is not None
        tap_seconds = last_tap - started
        print("| taps | edge workers | tap seconds | taps/s | p99 ms | errors | report counts all after (s) | "
              "clicks counted | loader batches | load average |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {args.taps:,} | {args.workers} | {tap_seconds:.1f} | {args.taps / tap_seconds:,.0f} | "
              f"{taps['p99_us'] / 1000:.1f} | {taps['errors'] + taps['non_2xx_3xx']} | "
              f"{seconds:.1f}{'' if counted >= args.taps else ' (deadline)'} | {counted:,} | "
              f"{loader.loader.stats.batches} | {load_before:.2f} |")
        if counted != args.taps:
            raise SystemExit(f"the report counts {counted} clicks for {args.taps} taps")
    finally:
        if tapping is not None and tapping.poll() is None:
            tapping.kill()
            tapping.wait()
        if edge is not None:
            os.killpg(edge.pid, signal.SIGINT)
            edge.wait(30)
        redis_server.stop()


if __name__ == "__main__":
    main()
