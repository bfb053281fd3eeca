"""Redis killed under load, taps answered from the spill log, the edge killed -9 mid-outage, both restarted:
every click a client got a 302 for lands in ClickHouse exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http_raw import Load, get, wait_for
from tests.support.processes import (
    TrackerProcess,
    create_link,
    load_into_clickhouse,
    metric,
    tracker_env,
    worker_pids,
)
from tests.support.servers import serve_in_thread, wait_until
from tests.support.settings import make_settings
from tracker.admin.app import Admin
from tracker.dev.embedded_redis import EmbeddedRedis


def spill_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.spill"))


@pytest.mark.slow
def test_clicks_answered_while_redis_is_down_survive_kill_9_of_the_edge_and_land_once(
    tmp_path: Path, clickhouse: Any
) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis").start()
    spill = tmp_path / "spill"
    try:
        with serve_in_thread(Admin(make_settings(redis_server.url)).app) as admin_url:
            code = create_link(admin_url, {"destination": "https://shop.example/p", "utm": {"source": "sms"}})["code"]
        env = tracker_env(redis_server.url, TRACKER_DURABILITY="ack", TRACKER_SPILL_DIR=str(spill))
        edge = TrackerProcess(["edge", "--workers", "2"], env, tmp_path, "edge").start()
        wait_until(lambda: len(worker_pids(edge.pid)) == 2, timeout=20, message="two workers")
        # 16 connections: both workers get some, so both have the link cached before Redis goes.
        load = Load(edge.port, lambda n: get(f"/{code}"), connections=16)
        marks: dict[str, float] = {}

        async def outage_then_kill_9() -> None:
            running = asyncio.create_task(load.run(deadline_s=60))
            await wait_for(lambda: load.count(302) >= 1000, 30, "1000 redirects with Redis up")
            await asyncio.to_thread(redis_server.kill)
            marks["down"] = time.monotonic()
            await wait_for(lambda: sum(1 for r in load.replies if r.sent_at > marks["down"] and r.status == 302)
                           >= 500, 30, "500 redirects answered while Redis is down")
            edge.kill()  # SIGKILL to the supervisor and both workers, mid-outage
            load.stop()
            await running

        asyncio.run(outage_then_kill_9())
        answered = [r.click_id for r in load.replies if r.status == 302]
        during = [r for r in load.replies if r.sent_at > marks["down"]]
        left = spill_files(spill)
        assert left, "the answered clicks of the outage are on disk"

        redis_server.start()
        with TrackerProcess(["edge", "--workers", "2"], env, tmp_path, "edge-after") as after:
            wait_until(lambda: not spill_files(spill), timeout=30, interval=0.05,
                       message="the next edge to replay and remove the spill files")
            metrics = httpx.get(after.metrics_url).text
            after.terminate()
        loader = load_into_clickhouse(redis_server.url, clickhouse)
    finally:
        redis_server.stop()

    rows = Counter(row[0] for row in clickhouse.query("SELECT click_id FROM clicks").result_rows)
    missing = set(answered) - set(rows)
    doubled = [click_id for click_id, n in rows.items() if n > 1]
    print(f"\n[spill + kill -9] answered 302: {len(answered)} ({sum(r.status == 302 for r in during)} while Redis "
          f"was down), statuses during the outage {dict(Counter(r.status for r in during))}, spill files left "
          f"{len(left)}, replayed by the next edge {metric(metrics, 'tracker_events_replayed_total'):.0f}, rows "
          f"{sum(rows.values())}, missing {len(missing)}, doubled {len(doubled)}, loader clicks {loader.stats.clicks}")
    assert len(answered) == len(set(answered)) >= 1500
    assert {r.status for r in during} <= {302, 503}
    assert metric(metrics, "tracker_events_replayed_total") >= 500
    assert missing == set()
    assert doubled == []
