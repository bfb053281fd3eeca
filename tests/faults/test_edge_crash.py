"""kill -9 of one edge worker under load, in `ack` mode: every 302 a client got is loaded exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_raw import Load, get, wait_for
from tests.support.processes import TrackerProcess, create_link, load_into_clickhouse, tracker_env, worker_pids
from tests.support.servers import serve_in_thread, wait_until
from tracker.admin.app import Admin
from tracker.settings import Settings


@pytest.mark.slow
def test_kill_9_of_an_ack_mode_worker_under_load_loses_and_doubles_no_answered_click(
    redis_url: str, settings: Settings, clickhouse: Any, tmp_path: Path
) -> None:
    with serve_in_thread(Admin(settings).app) as admin_url:
        code = create_link(admin_url, {"destination": "https://shop.example/p", "utm": {"source": "x"}})["code"]
    env = tracker_env(redis_url, TRACKER_DURABILITY="ack")
    with TrackerProcess(["edge", "--workers", "2"], env, tmp_path, "edge") as edge:
        workers = wait_until(lambda: len(worker_pids(edge.pid)) == 2 and worker_pids(edge.pid), timeout=20,
                             message="two workers")
        request = get(f"/{code}")
        load = Load(edge.port, lambda n: request, connections=16)
        replaced: list[int] = []

        async def scenario() -> None:
            running = asyncio.create_task(load.run(deadline_s=60))
            await wait_for(lambda: load.count(302) >= 2000, 30, "2000 redirects before the kill")
            os.kill(workers[0], signal.SIGKILL)
            killed_at = load.count(302)
            # The load goes on: the other worker answers, and the supervisor brings up a replacement.
            await wait_for(lambda: len(worker_pids(edge.pid)) == 2 and workers[0] not in worker_pids(edge.pid),
                           20, "a replacement worker")
            replaced.extend(worker_pids(edge.pid))
            await wait_for(lambda: load.count(302) >= killed_at + 4000, 30, "4000 more redirects after the kill")
            load.stop()
            await running

        asyncio.run(scenario())
        code_, _ = edge.terminate()
    answered = [r.click_id for r in load.replies if r.status == 302]
    statuses = {r.status for r in load.replies}
    loader = load_into_clickhouse(redis_url, clickhouse)
    total, distinct = clickhouse.query("SELECT count(), uniqExact(click_id) FROM clicks").result_rows[0]
    loaded = {row[0] for row in clickhouse.query("SELECT click_id FROM clicks").result_rows}
    missing = set(answered) - loaded
    print(f"\n[edge kill -9] answered 302: {len(answered)}, client errors around the kill: {load.errors}, "
          f"rows in ClickHouse: {total} (distinct {distinct}), answered but missing: {len(missing)}, "
          f"loaded but never answered (killed in flight): {len(loaded - set(answered))}, "
          f"worker {workers[0]} replaced by {sorted(set(replaced) - set(workers))}, supervisor exit {code_}")
    assert statuses == {302}
    assert len(answered) >= 6000 and len(set(answered)) == len(answered)
    assert missing == set()
    assert total == distinct == loader.stats.clicks
    assert code_ == 0
