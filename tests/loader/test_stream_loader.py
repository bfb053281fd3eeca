"""The loader on a real redis-server and a real ClickHouse engine (chDB): exactly once, whatever happens."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
import pytest
import redis
from clickhouse_connect.driver.exceptions import OperationalError
from redis.asyncio import Redis

from tests.support.servers import serve_in_thread, wait_until
from tests.support.settings import API_KEY, SECRET, make_settings
from tracker.admin.app import Admin
from tracker.dev.embedded_redis import free_port
from tracker.edge.app import Edge
from tracker.events.streams import GROUP, ensure_groups, stream_names
from tracker.loader.stream_loader import InsertFn, Loader, clickhouse_inserter

STREAM = stream_names(1)[0]
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36",
    "WhatsApp/2.23.20.0 A",
    "curl/8.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
]


def click_event(n: int, **overrides: Any) -> bytes:
    event = {
        "kind": "click", "click_id": f"c{n:08d}", "ts": 1_790_000_000_000 + n, "code": f"code{n % 97}",
        "channel": "sms", "campaign": f"camp{n % 5}", "message": f"m{n % 3}", "utm_source": "klaviyo",
        "utm_medium": "sms", "utm_campaign": f"camp{n % 5}", "utm_content": "", "utm_term": "", "tags": ["vip"],
        "recipient_ref": f"r{n % 1000}", "destination_host": "shop.example", "method": "GET",
        "user_agent": AGENTS[n % len(AGENTS)], "referer": "", "purpose": "", "ip_ref": f"ip{n % 500}",
    }
    event.update(overrides)
    return orjson.dumps(event)


def fill_stream(client: redis.Redis, count: int, start: int = 0) -> None:
    for offset in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for n in range(start + offset, start + min(offset + 5000, count)):
            pipe.xadd(STREAM, {"e": click_event(n)})
        pipe.execute()


def counts(clickhouse) -> tuple[int, int]:
    return tuple(clickhouse.query("SELECT count(), uniqExact(click_id) FROM clicks").result_rows[0])


def run_loader(redis_url: str, insert, consumer: str = "test", **options: Any) -> Loader:
    async def scenario() -> Loader:
        client = Redis.from_url(redis_url)
        loader = Loader(client, insert, [STREAM], consumer, **options)
        await loader.drain()
        await client.aclose()
        return loader

    return asyncio.run(scenario())


def test_100000_events_land_exactly_once_with_enrichment(redis_url, sync_redis, clickhouse):
    fill_stream(sync_redis, 100_000)
    loader = run_loader(redis_url, clickhouse_inserter(clickhouse))
    assert counts(clickhouse) == (100_000, 100_000)
    assert loader.stats.clicks == 100_000 and loader.stats.dead_letters == 0
    assert sync_redis.xpending(STREAM, GROUP)["pending"] == 0
    bots = dict(clickhouse.query("SELECT bot_reason, count() FROM clicks WHERE is_bot GROUP BY bot_reason").result_rows)
    assert bots == {"link_preview:whatsapp": 20_000, "script:curl": 20_000}
    devices = dict(clickhouse.query("SELECT device_type, count() FROM clicks GROUP BY device_type").result_rows)
    assert devices["mobile"] == 40_000 and devices["desktop"] == 20_000
    assert sync_redis.xlen(STREAM) <= 1  # trimmed below what the group acknowledged


def test_conversions_and_unparseable_events_go_to_their_tables(redis_url, sync_redis, clickhouse):
    conversion = {"kind": "conversion", "order_id": "o-1", "type": "purchase", "value": "19.99", "currency": "EUR",
                  "click_id": "c1", "recipient_ref": "", "ts": 1_790_000_000_000, "source": "pixel",
                  "verified": False}
    sync_redis.xadd(STREAM, {"e": orjson.dumps(conversion)})
    sync_redis.xadd(STREAM, {"e": b"{not json"})
    sync_redis.xadd(STREAM, {"e": orjson.dumps({"kind": "sms"})})
    sync_redis.xadd(STREAM, {"e": orjson.dumps({**conversion, "value": "-1"})})
    sync_redis.xadd(STREAM, {"e": click_event(1)})
    run_loader(redis_url, clickhouse_inserter(clickhouse))
    assert clickhouse.query("SELECT order_id, toString(value), currency FROM conversions").result_rows == [
        ("o-1", "19.99", "EUR")
    ]
    reasons = [r[0] for r in clickhouse.query("SELECT reason FROM dead_letters ORDER BY entry_id").result_rows]
    assert reasons[0] == "not JSON" and "unknown kind" in reasons[1] and reasons[2].startswith("conversion:")
    assert counts(clickhouse) == (1, 1)
    assert sync_redis.xpending(STREAM, GROUP)["pending"] == 0


def test_clickhouse_down_for_a_while_loses_and_doubles_nothing_and_redirects_go_on(
    redis_url, sync_redis, clickhouse
):
    insert = clickhouse_inserter(clickhouse)
    outage = threading.Event()
    outage.set()
    attempts = {"failed": 0, "ambiguous": 0}

    def flaky(table: str, rows: list[list[Any]], columns: Sequence[tuple[str, str]], token: str) -> None:
        if outage.is_set():
            attempts["failed"] += 1
            raise OperationalError("Error HTTPConnectionPool: connection refused (injected)")
        if attempts["ambiguous"] == 0:
            # The server stored the block but the reply was lost: the retry must not double it.
            attempts["ambiguous"] += 1
            insert(table, rows, columns, token)
            raise OperationalError("connection reset by peer after insert (injected)")
        insert(table, rows, columns, token)

    fill_stream(sync_redis, 20_000)
    settings = make_settings(redis_url)
    stop = threading.Event()
    loader_box: list[Loader] = []

    def run_in_background() -> None:
        async def scenario() -> None:
            client = Redis.from_url(redis_url)
            loader = Loader(client, flaky, [STREAM], "bg", batch_size=5000, batch_interval=0.2)
            loader_box.append(loader)
            task = asyncio.create_task(loader.run())
            await asyncio.to_thread(stop.wait)
            loader.stop.set()
            await task
            await client.aclose()

        asyncio.run(scenario())

    background = threading.Thread(target=run_in_background)
    background.start()
    with serve_in_thread(Admin(settings).app) as admin_url, serve_in_thread(Edge(settings)) as edge_url:
        code = httpx.post(f"{admin_url}/v1/links", json={"destination": "https://shop.example/"},
                          headers={"Authorization": f"Bearer {API_KEY}"}).json()["code"]
        with httpx.Client() as client:
            statuses = [client.get(f"{edge_url}/{code}").status_code for _ in range(300)]
        wait_until(lambda: attempts["failed"] >= 3, timeout=30, message="inserts failing during the outage")
    assert statuses == [302] * 300  # answered while every insert into ClickHouse failed
    outage.clear()
    wait_until(lambda: loader_box and loader_box[0].stats.clicks == 20_300, timeout=60, interval=0.05,
               message="the backlog to drain")
    stop.set()
    background.join(30)
    assert attempts["failed"] >= 2 and attempts["ambiguous"] == 1
    assert counts(clickhouse) == (20_300, 20_300)


def test_entries_left_by_a_dead_consumer_are_claimed_and_loaded_once(redis_url, sync_redis, clickhouse):
    fill_stream(sync_redis, 3000)
    asyncio.run(_create_group(redis_url))
    sync_redis.xreadgroup(GROUP, "dead-loader", {STREAM: ">"}, count=1200)  # read, never acknowledged
    fill_stream(sync_redis, 1000, start=3000)

    async def scenario() -> Loader:
        client = Redis.from_url(redis_url)
        loader = Loader(client, clickhouse_inserter(clickhouse), [STREAM], "alive", claim_idle_ms=1)
        await loader.drain()
        await loader.loaders[0]._claim_from_dead_consumers()
        await client.aclose()
        return loader

    loader = asyncio.run(scenario())
    assert loader.stats.claimed == 1200
    assert counts(clickhouse) == (4000, 4000)
    assert sync_redis.xpending(STREAM, GROUP)["pending"] == 0


async def _create_group(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await ensure_groups(client, [STREAM])
    await client.aclose()


def test_trim_never_deletes_an_entry_another_group_has_not_acknowledged(redis_url, sync_redis, clickhouse):
    fill_stream(sync_redis, 1000)
    sync_redis.xgroup_create(STREAM, "audit", id="0")
    audit_read = sync_redis.xreadgroup("audit", "a1", {STREAM: ">"}, count=300)[0][1]
    sync_redis.xack(STREAM, "audit", *[entry_id for entry_id, _ in audit_read[:100]])
    first_unacked = audit_read[100][0]
    run_loader(redis_url, clickhouse_inserter(clickhouse))
    remaining = [entry_id for entry_id, _ in sync_redis.xrange(STREAM)]
    assert remaining[0] == first_unacked and len(remaining) == 900
    assert counts(clickhouse) == (1000, 1000)


def test_schema_keeps_a_nonzero_deduplication_window(clickhouse):
    for table in ("clicks", "conversions", "messages", "dead_letters"):
        create = clickhouse.query(f"SHOW CREATE TABLE {table}").result_rows[0][0]
        window = int(create.split("non_replicated_deduplication_window = ")[1].split(",")[0].split()[0])
        assert window > 0, table


@pytest.mark.slow
def test_kill_9_between_insert_and_xack_then_restart_is_still_exactly_once(redis_url, sync_redis, tmp_path):
    chdb_url = f"chdb://{tmp_path / 'clickhouse'}"
    env = {**os.environ, "TRACKER_REDIS_URL": redis_url, "TRACKER_SECRET": SECRET, "TRACKER_CLICKHOUSE_URL": chdb_url}
    subprocess.run([sys.executable, "-m", "tracker.cli", "migrate"], env=env, check=True, timeout=120)
    fill_stream(sync_redis, 10_000)

    crashed = subprocess.run([sys.executable, "-m", "tests.support.loader_crash", redis_url, chdb_url, "loader-a"],
                             env=env, timeout=120)
    assert crashed.returncode == -9  # killed right after its first insert, before XACK
    assert sync_redis.xpending(STREAM, GROUP)["pending"] > 0  # the inserted batch is still unacknowledged

    port = free_port()
    loader = subprocess.Popen([sys.executable, "-m", "tracker.cli", "loader", "--name", "loader-a",
                               "--port", str(port)], env=env)
    try:
        def all_loaded() -> bool:
            group = sync_redis.xinfo_groups(STREAM)[0]
            last = sync_redis.xinfo_stream(STREAM)["last-generated-id"]
            return group["pending"] == 0 and group["last-delivered-id"] == last

        wait_until(all_loaded, timeout=120, interval=0.1, message="the restarted loader to acknowledge everything")
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready == {"status": "ready", "checks": {"redis": True, "clickhouse": True}}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'tracker_loader_rows_inserted_total{table="clicks"}' in metrics
        loader.terminate()
        assert loader.wait(60) == 0
    finally:
        if loader.poll() is None:
            loader.kill()
    query = subprocess.run([sys.executable, "-m", "tests.support.chdb_query", chdb_url,
                            "SELECT count(), uniqExact(click_id) FROM clicks"],
                           env=env, check=True, capture_output=True, timeout=120)
    assert orjson.loads(query.stdout) == [[10_000, 10_000]]


def test_random_batch_sizes_and_interleaved_restarts_stay_exactly_once(redis_url, sync_redis, clickhouse):
    insert = clickhouse_inserter(clickhouse)
    rng = random.Random(7)
    fill_stream(sync_redis, 5000)

    for round_ in range(5):
        budget = {"inserts": rng.randint(1, 3)}

        def crashing(table: str, rows: list[list[Any]], columns: Sequence[tuple[str, str]], token: str,
                     budget: dict[str, int] = budget) -> None:
            insert(table, rows, columns, token)
            budget["inserts"] -= 1
            if budget["inserts"] == 0:
                raise Crash

        with pytest.raises(Crash):
            run_loader(redis_url, crashing, consumer="same", batch_size=rng.randint(100, 900))
        fill_stream(sync_redis, 500, start=5000 + round_ * 500)
    run_loader(redis_url, insert, consumer="same", batch_size=rng.randint(100, 900))
    assert counts(clickhouse) == (7500, 7500)


class Crash(BaseException):
    """Stands for the process dying: nothing in the loader catches it."""


def crash_once_the_next_batch_is_read(insert: InsertFn, sync_redis: Any) -> InsertFn:
    """Inserts a batch of 1000, waits until the loader has read the next one ahead, then dies."""

    def insert_then_crash(table: str, rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]],
                          token: str) -> None:
        insert(table, rows, columns, token)
        wait_until(lambda: sync_redis.xpending(STREAM, GROUP)["pending"] >= 2000, timeout=30,
                   message="the next batch read while this one is in flight")
        raise Crash

    return insert_then_crash


def test_a_crash_while_the_next_batch_is_read_ahead_loads_both_exactly_once(redis_url, sync_redis, clickhouse):
    """A batch is inserted while the next one is read: a crash then leaves two batches pending, one inserted."""
    insert = clickhouse_inserter(clickhouse)
    fill_stream(sync_redis, 5000)

    with pytest.raises(Crash):
        run_loader(redis_url, crash_once_the_next_batch_is_read(insert, sync_redis), consumer="same", batch_size=1000)
    assert sync_redis.xpending(STREAM, GROUP)["pending"] == 2000
    assert counts(clickhouse) == (1000, 1000)
    run_loader(redis_url, insert, consumer="same", batch_size=700)  # another batch size: the mark decides
    assert counts(clickhouse) == (5000, 5000)


def test_a_crash_midway_through_a_batchs_xack_leaves_nothing_doubled(redis_url, sync_redis, clickhouse):
    """XACK goes in chunks: a crash between two leaves part of an inserted batch pending."""
    insert = clickhouse_inserter(clickhouse)
    fill_stream(sync_redis, 3000)

    def insert_then_crash(table: str, rows: list[list[Any]], columns: Sequence[tuple[str, str]], token: str) -> None:
        insert(table, rows, columns, token)
        raise Crash

    with pytest.raises(Crash):
        run_loader(redis_url, insert_then_crash, consumer="same", batch_size=1000)
    pending = sync_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=5000, consumername="same")
    sync_redis.xack(STREAM, GROUP, *[p["message_id"] for p in pending[:400]])  # the first chunk got through
    run_loader(redis_url, insert, consumer="same")
    assert counts(clickhouse) == (3000, 3000)


def test_a_dead_consumers_inserted_batch_and_its_read_ahead_are_claimed_and_loaded_once(
    redis_url, sync_redis, clickhouse
):
    insert = clickhouse_inserter(clickhouse)
    fill_stream(sync_redis, 4000)

    with pytest.raises(Crash):
        run_loader(redis_url, crash_once_the_next_batch_is_read(insert, sync_redis), consumer="dead-loader",
                   batch_size=1000)

    async def claim() -> Loader:
        client = Redis.from_url(redis_url)
        loader = Loader(client, insert, [STREAM], "alive", claim_idle_ms=1)
        await loader.loaders[0]._claim_from_dead_consumers()
        await loader.drain()
        await client.aclose()
        return loader

    assert asyncio.run(claim()).stats.claimed == 2000
    assert counts(clickhouse) == (4000, 4000)
    assert sync_redis.xpending(STREAM, GROUP)["pending"] == 0
