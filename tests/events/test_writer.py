"""The event writer against a real redis-server: shared round trips, cold taps resolved in the script, the spill log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from tests.support.processes import tracker_env
from tests.support.servers import wait_until
from tests.support.settings import API_KEY
from tracker.dev.embedded_redis import free_port
from tracker.events.click import decode_entry
from tracker.events.spill import SpilledBatch, SpillLog
from tracker.events.streams import stream_names
from tracker.events.writer import TAP_SCRIPT, EventWriter, NotDurable, Unresolved, mark_key

STREAM = stream_names(1)[0]


def run(coro):
    return asyncio.run(coro)


def record(code: str, **fields: object) -> bytes:
    return orjson.dumps({"code": code, "destination": "https://shop.example/", "disabled": False,
                         "expires_at": None, **fields})


def entries(sync_redis, stream: str = STREAM) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in sync_redis.xrange(stream)]


def test_concurrent_taps_share_round_trips_and_each_lands_once(redis_url, sync_redis):
    async def scenario() -> EventWriter:
        client = Redis.from_url(redis_url)
        writer = EventWriter(client, stream_names(1), "ack")
        writer.start()
        await asyncio.gather(*(writer.append(orjson.dumps({"n": i})) for i in range(500)))
        await writer.close()
        await client.aclose()
        return writer

    writer = run(scenario())
    assert sorted(orjson.loads(f[b"e"])["n"] for f in entries(sync_redis)) == list(range(500))
    assert writer.stats.written == 500 and writer.stats.round_trips < 50


def test_a_cold_tap_is_resolved_and_appended_with_its_link_record_in_one_call(redis_url, sync_redis):
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sync_redis.set("k:live", record("live", expires_at=future))
    sync_redis.set("k:off", record("off", disabled=True))
    sync_redis.set("k:old", record("old", expires_at=past))

    async def scenario() -> list[tuple[bytes | None, bool]]:
        client = Redis.from_url(redis_url)
        writer = EventWriter(client, stream_names(1), "ack")
        writer.start()
        results = await asyncio.gather(*(writer.resolve(f"k:{name}", orjson.dumps({"tap": name}))
                                         for name in ("live", "live", "off", "old", "none")))
        await writer.close()
        await client.aclose()
        assert writer.stats.round_trips == 1
        return list(results)

    results = run(scenario())
    assert [appended for _, appended in results] == [True, True, False, False, False]
    assert results[0][0] == results[1][0] == sync_redis.get("k:live")
    assert results[2][0] == sync_redis.get("k:off") and results[4][0] is None
    stored = entries(sync_redis)
    assert [orjson.loads(f[b"e"])["tap"] for f in stored] == ["live", "live"]
    assert all(f[b"l"] == sync_redis.get("k:live") for f in stored)


def test_fast_mode_returns_at_once_but_a_cold_tap_goes_without_waiting_for_the_interval(redis_url, sync_redis):
    sync_redis.set("k:a", record("a"))

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        writer = EventWriter(client, stream_names(2), "fast", flush_interval=3600)
        writer.start()
        for i in range(10):
            await writer.append(orjson.dumps({"n": i}))
        assert writer.pending == 10
        assert await asyncio.wait_for(writer.resolve("k:a", b'{"n": 10}'), 5) == (sync_redis.get("k:a"), True)
        await writer.close()
        await client.aclose()

    run(scenario())
    numbers = sorted(orjson.loads(f[b"e"])["n"] for s in stream_names(2) for f in entries(sync_redis, s))
    assert numbers == list(range(11))


def test_clicks_answered_while_redis_is_down_are_spilled_then_replayed_once(redis_server, redis_url, sync_redis,
                                                                            tmp_path: Path):
    spill = SpillLog(tmp_path / "spill", 1 << 20).open()

    async def scenario() -> EventWriter:
        client = Redis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
        writer = EventWriter(client, stream_names(1), "ack", spill=spill)
        writer.start()
        await writer.append(b'{"n": 0}')
        await asyncio.to_thread(redis_server.stop)
        await asyncio.gather(*(writer.append(orjson.dumps({"n": i})) for i in range(1, 101)))  # durable on disk
        with pytest.raises(Unresolved):
            await writer.resolve("k:any", b'{"n": -1}')
        assert writer.stats.spilled == 100 and list((tmp_path / "spill").glob("*.spill"))
        await asyncio.to_thread(redis_server.start)
        await asyncio.to_thread(wait_until, lambda: writer.stats.replayed == 100, 10, 0.02, "the replay")
        await writer.append(b'{"n": 101}')
        await writer.close()
        await client.aclose()
        return writer

    writer = run(scenario())
    assert sorted(orjson.loads(f[b"e"])["n"] for f in entries(sync_redis)) == list(range(102))
    assert writer.stats.refused == 0 and writer.stats.dropped == 0
    assert not list((tmp_path / "spill").glob("*.spill"))


def test_a_spilled_batch_that_redis_had_applied_is_not_written_twice(redis_url, sync_redis, tmp_path: Path):
    """A write that timed out after Redis applied it: its spilled copy replays as a no-op."""
    spill = SpillLog(tmp_path, 1 << 20).open()
    events = (b'{"n": 1}', b'{"n": 2}')

    async def scenario() -> int:
        client = Redis.from_url(redis_url)
        script = client.register_script(TAP_SCRIPT)
        args: list[object] = [7, 60, "2000-01-01T00:00:00.000Z", 0, events[0], 0, events[1]]
        await script(keys=[STREAM, mark_key(STREAM, "e1")], args=args)  # applied, reply "lost"
        assert await spill.append([SpilledBatch("e1", 7, STREAM, events), SpilledBatch("e1", 8, STREAM, events)])
        writer = EventWriter(client, stream_names(1), "ack", spill=spill)
        replayed = await writer.replay()
        await client.aclose()
        return replayed

    assert run(scenario()) == 2  # seq 8 only
    assert [orjson.loads(f[b"e"])["n"] for f in entries(sync_redis)] == [1, 2, 1, 2]


def test_a_segment_left_by_a_dead_writer_is_claimed_and_replayed_and_a_torn_tail_ignored(redis_url, sync_redis,
                                                                                         tmp_path: Path):
    dead = SpillLog(tmp_path, 1 << 20).open()
    assert run(dead.append([SpilledBatch("e2", 1, STREAM, (b'{"n": 1}',))]))
    segment = next(tmp_path.glob("*.spill"))
    with segment.open("ab") as handle:
        handle.write(SpilledBatch("e2", 2, STREAM, (b'{"n": 2}',)).encode()[:-3])  # the crash came mid-write
    live = SpillLog(tmp_path, 1 << 20).open()
    assert run(live.claim_replayable()) == []  # still locked by its writer
    dead.close()  # the process is gone: its lock with it

    async def scenario() -> int:
        client = Redis.from_url(redis_url)
        replayed = await EventWriter(client, stream_names(1), "ack", spill=live).replay()
        await client.aclose()
        return replayed

    assert run(scenario()) == 1
    assert [orjson.loads(f[b"e"])["n"] for f in entries(sync_redis)] == [1]
    assert not list(tmp_path.glob("*.spill"))


def test_a_full_spill_log_refuses_and_the_click_is_not_durable(redis_server, redis_url, tmp_path: Path):
    spill = SpillLog(tmp_path, 200).open()

    async def scenario() -> EventWriter:
        client = Redis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
        writer = EventWriter(client, stream_names(1), "ack", spill=spill)
        writer.start()
        await asyncio.to_thread(redis_server.stop)
        await writer.append(b'{"n": 1}')
        with pytest.raises(NotDurable):
            await writer.append(b'{"n": 2, "padding": "' + b"x" * 300 + b'"}')
        await writer.close()
        await client.aclose()
        return writer

    try:
        writer = run(scenario())
    finally:
        redis_server.start()
    assert (writer.stats.spilled, writer.stats.refused) == (1, 1)


@pytest.mark.slow
def test_ack_mode_survives_kill_9_of_the_edge_with_every_answered_click_in_the_stream(redis_url, sync_redis, tmp_path):
    port = free_port()
    # Run in tmp_path with a ClickHouse folder of its own: nothing of this test lands in the checkout's ./data.
    env = tracker_env(redis_url, TRACKER_DURABILITY="ack", TRACKER_CLICKHOUSE_URL=f"chdb://{tmp_path / 'admin-ch'}",
                      TRACKER_SPILL_DIR=str(tmp_path / "spill"))
    admin_port = free_port()
    admin = subprocess.Popen([sys.executable, "-m", "tracker.cli", "admin", "--port", str(admin_port)], env=env,
                             cwd=tmp_path)
    edge = subprocess.Popen([sys.executable, "-m", "tracker.cli", "edge", "--port", str(port),
                             "--metrics-port", str(free_port())], env=env, cwd=tmp_path)
    try:
        def up(p: int) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{p}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(lambda: up(port) and up(admin_port), timeout=30, interval=0.05, message="edge and admin")
        code = httpx.post(f"http://127.0.0.1:{admin_port}/v1/links", json={"destination": "https://shop.example/"},
                          headers={"Authorization": f"Bearer {API_KEY}"}).json()["code"]
        answered: list[str] = []
        enough = asyncio.Event()

        async def tap(client: httpx.AsyncClient) -> None:
            for _ in range(2000):
                try:
                    reply = await client.get(f"http://127.0.0.1:{port}/{code}")
                except httpx.TransportError:
                    return
                answered.append(reply.headers["location"].rsplit("sclid=", 1)[1])
                if len(answered) >= 1500:
                    enough.set()

        async def load() -> None:
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:
                tasks = [asyncio.create_task(tap(client)) for _ in range(32)]
                await asyncio.wait_for(enough.wait(), 180)  # a deadline, generous for a loaded CI machine
                os.kill(edge.pid, signal.SIGKILL)
                await asyncio.wait_for(asyncio.gather(*tasks), 30)

        asyncio.run(load())
        edge.wait(10)
    finally:
        for process in (edge, admin):
            if process.poll() is None:
                process.kill()
                process.wait()
    in_stream = {decode_entry(f)["click_id"] for _, f in sync_redis.xrange(stream_names(1)[0])}
    assert len(answered) >= 1500
    assert set(answered) <= in_stream  # every click a client got a 302 for is durable
