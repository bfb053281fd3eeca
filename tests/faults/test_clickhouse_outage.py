"""ClickHouse unavailable for a minute under load: redirects do not notice, the backlog drains once, after."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from clickhouse_connect.driver.exceptions import OperationalError
from redis.asyncio import Redis

from tests.support.http_raw import Load, Reply, get, percentile, wait_for
from tests.support.processes import TrackerProcess, create_link, tracker_env
from tests.support.servers import serve_in_thread, wait_until
from tracker.admin.app import Admin
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter
from tracker.settings import Settings

OUTAGE = float(os.environ.get("FAULTS_CLICKHOUSE_OUTAGE_S", "60"))
BEFORE = 5.0


class LoaderThread(threading.Thread):
    """The product's Loader on its own event loop, inserting through a seam that fails while `outage` is set."""

    def __init__(self, redis_url: str, clickhouse: Any) -> None:
        super().__init__(daemon=True)
        self.redis_url = redis_url
        self.outage = threading.Event()
        self.refused = 0
        self.loader: Loader | None = None
        self._insert = clickhouse_inserter(clickhouse)
        self._finished = threading.Event()

    def insert(self, table: str, rows: list[list[Any]], columns: Sequence[tuple[str, str]], token: str) -> None:
        if self.outage.is_set():
            self.refused += 1
            raise OperationalError("Error HTTPConnectionPool(host='clickhouse', port=8123): connection refused")
        self._insert(table, rows, columns, token)

    def run(self) -> None:
        async def main() -> None:
            client = Redis.from_url(self.redis_url)
            self.loader = Loader(client, self.insert, stream_names(1), "outage", batch_interval=0.5)
            task = asyncio.create_task(self.loader.run())
            await asyncio.to_thread(self._finished.wait)
            self.loader.stop.set()
            await task
            await client.aclose()

        asyncio.run(main())

    def finish(self) -> None:
        self._finished.set()
        self.join(60)
        assert not self.is_alive()


def ms(replies: list[Reply], pct: float) -> float:
    return percentile([r.seconds for r in replies], pct) * 1000


@pytest.mark.slow
def test_a_minute_without_clickhouse_leaves_redirect_latency_alone_and_the_backlog_lands_once(
    redis_url: str, settings: Settings, sync_redis: redis.Redis, clickhouse: Any, tmp_path: Path
) -> None:
    with serve_in_thread(Admin(settings).app) as admin_url:
        code = create_link(admin_url, {"destination": "https://shop.example/"})["code"]
    loader = LoaderThread(redis_url, clickhouse)
    request = get(f"/{code}", {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"})
    # Paced, not flat out: latency is compared between phases, so the client must not be the bottleneck.
    load = Load(0, lambda n: request, connections=4, pause=0.004)
    marks: dict[str, float] = {}
    with TrackerProcess(["edge"], tracker_env(redis_url, TRACKER_DURABILITY="ack"), tmp_path, "edge") as edge:
        load.port = edge.port
        loader.start()

        async def scenario() -> None:
            running = asyncio.create_task(load.run(deadline_s=OUTAGE + 60))
            marks["start"] = time.monotonic()
            await wait_for(lambda: time.monotonic() - marks["start"] >= BEFORE and loader.loader is not None
                           and loader.loader.stats.clicks > 0, 30, "the loader to insert before the outage")
            loader.outage.set()
            marks["outage"] = time.monotonic()
            await wait_for(lambda: time.monotonic() - marks["outage"] >= OUTAGE, OUTAGE + 5, "the outage to end")
            loader.outage.clear()
            marks["back"] = time.monotonic()
            await wait_for(lambda: time.monotonic() - marks["back"] >= 2.0, 10, "2 s of load after the outage")
            load.stop()
            await running

        asyncio.run(scenario())
    answered = [r.click_id for r in load.replies if r.status == 302]
    assert loader.loader is not None
    stats = loader.loader.stats
    wait_until(lambda: stats.clicks >= len(answered), timeout=60, interval=0.05, message="the backlog to drain")
    drained_at = time.monotonic()
    loader.finish()
    total, distinct = clickhouse.query("SELECT count(), uniqExact(click_id) FROM clicks").result_rows[0]
    loaded = {row[0] for row in clickhouse.query("SELECT click_id FROM clicks").result_rows}
    before = [r for r in load.replies if r.sent_at < marks["outage"]]
    during = [r for r in load.replies if marks["outage"] <= r.sent_at < marks["back"]]
    print(f"\n[clickhouse outage {OUTAGE:.0f}s] redirects before: {len(before)} p50 {ms(before, 50):.2f} ms p99 "
          f"{ms(before, 99):.2f} ms; during: {len(during)} p50 {ms(during, 50):.2f} ms p99 {ms(during, 99):.2f} ms; "
          f"inserts refused {loader.refused}, loader insert errors {stats.insert_errors}; backlog drained "
          f"{drained_at - marks['back']:.1f}s after ClickHouse came back; answered {len(answered)}, "
          f"ClickHouse rows {total} (distinct {distinct}), answered but missing "
          f"{len(set(answered) - loaded)}")
    assert {r.status for r in load.replies} == {302} and len(during) > 1000
    assert loader.refused >= 3 and stats.insert_errors == loader.refused
    assert ms(during, 99) <= 3 * ms(before, 99) + 5
    assert set(answered) <= loaded
    assert total == distinct == stats.clicks
