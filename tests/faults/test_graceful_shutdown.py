"""SIGTERM under load: the edge (fast mode, so its buffer matters) and the loader finish, drain and exit 0."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from tests.loader.test_stream_loader import click_event
from tests.support.http_raw import Load, get, wait_for
from tests.support.processes import STREAM, TrackerProcess, create_link, metric, stream_click_ids, tracker_env
from tests.support.servers import serve_in_thread, wait_until
from tracker.admin.app import Admin
from tracker.settings import Settings

GRACE = 15.0


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_of_a_fast_mode_edge_under_load_exits_0_with_every_answered_click_in_the_stream(
    redis_url: str, settings: Settings, sync_redis: redis.Redis, tmp_path: Path, workers: int
) -> None:
    with serve_in_thread(Admin(settings).app) as admin_url:
        code = create_link(admin_url, {"destination": "https://shop.example/"})["code"]
    env = tracker_env(redis_url, TRACKER_DURABILITY="fast")
    edge = TrackerProcess(["edge", "--workers", str(workers)], env, tmp_path, "edge")
    request = get(f"/{code}")
    load = Load(edge.port, lambda n: request, connections=16)
    result: dict[str, Any] = {}
    with edge:

        async def scenario() -> None:
            running = asyncio.create_task(load.run(deadline_s=60))
            await wait_for(lambda: load.count(302) >= 3000, 30, "3000 redirects before SIGTERM")
            result["before"] = load.count(302)
            result["exit"], result["seconds"] = await asyncio.to_thread(edge.terminate, GRACE)
            load.stop()
            await running

        asyncio.run(scenario())
    answered = [r.click_id for r in load.replies if r.status == 302]
    in_stream = stream_click_ids(sync_redis)
    missing = set(answered) - set(in_stream)
    print(f"\n[edge SIGTERM, fast, {workers} worker(s)] answered 302: {len(answered)} "
          f"({result['before']} before the signal), "
          f"requests not taken after the listener closed: {load.errors}, exit {result['exit']} after "
          f"{result['seconds']:.2f}s, events in stream: {len(in_stream)}, answered but missing: {len(missing)}, "
          f"dropped lines in log: {edge.log().count('not written to Redis')}")
    assert {r.status for r in load.replies} == {302}
    assert load.errors.get("truncated", 0) == 0  # a response was either complete or never started
    assert missing == set()
    assert len(in_stream) == len(set(in_stream)) >= len(answered)
    assert "not written to Redis" not in edge.log()
    assert result["seconds"] < GRACE
    assert result["exit"] == 0, f"tracker edge --workers {workers} exited {result['exit']} on SIGTERM"


def produce(client: redis.Redis, stop: threading.Event, written: list[int], limit: int) -> None:
    """Append click events in pipelined chunks until `stop` or `limit`."""
    while not stop.is_set() and written[0] < limit:
        pipe = client.pipeline(transaction=False)
        for n in range(written[0], written[0] + 500):
            pipe.xadd(STREAM, {"e": click_event(n)})
        pipe.execute()
        written[0] += 500
        stop.wait(0.01)  # pacing, so the loader is working on a backlog that keeps growing


@pytest.mark.slow
def test_sigterm_of_the_loader_under_load_drains_the_stream_and_exits_0(
    redis_url: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    chdb_url = f"chdb://{tmp_path / 'clickhouse'}"
    env = tracker_env(redis_url, TRACKER_CLICKHOUSE_URL=chdb_url)
    subprocess.run([sys.executable, "-m", "tracker.cli", "migrate"], env=env, cwd=tmp_path, check=True, timeout=120,
                   capture_output=True)
    written = [0]
    stop = threading.Event()
    producer_client = redis.Redis.from_url(redis_url)
    produce(producer_client, threading.Event(), written, 20_000)  # a backlog before the loader starts
    producer = threading.Thread(target=produce, args=(producer_client, stop, written, 200_000))
    loader = TrackerProcess(["loader", "--name", "loader-a"], env, tmp_path, "loader")
    with loader:
        producer.start()

        def loaded() -> float:
            return metric(httpx.get(f"{loader.url}/metrics", timeout=5).text, "tracker_loader_rows_inserted_total")

        try:
            # Mid-load: the loader has inserted a batch and has a backlog in front of it that keeps growing.
            wait_until(lambda: loaded() > 0, timeout=60, interval=0.05, message="the loader's first batch")
        finally:
            stop.set()
            producer.join(10)
        backlog = written[0] - loaded()
        code, seconds = loader.terminate(GRACE)
    producer_client.close()
    final = sync_redis.xinfo_groups(STREAM)[0]
    last = sync_redis.xinfo_stream(STREAM)["last-generated-id"]
    query = subprocess.run([sys.executable, "-m", "tests.support.chdb_query", chdb_url,
                            "SELECT count(), uniqExact(click_id) FROM clicks"],
                           env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    [[rows, distinct]] = orjson.loads(query.stdout)
    print(f"\n[loader SIGTERM] events written: {written[0]}, not yet loaded at SIGTERM: {backlog:.0f}; "
          f"exit {code} after {seconds:.2f}s; after: pending {final['pending']}, last delivered "
          f"{final['last-delivered-id']!r} vs last generated {last!r}; ClickHouse rows {rows} (distinct {distinct})")
    assert code == 0 and seconds < GRACE
    assert backlog > 0
    assert final["pending"] == 0 and final["last-delivered-id"] == last
    assert rows == distinct == written[0]
