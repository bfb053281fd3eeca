"""The edge's event writer against a real redis-server, and an edge killed with -9 in ack mode."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from tests.support.processes import tracker_env
from tests.support.servers import wait_until
from tests.support.settings import API_KEY
from tracker.dev.embedded_redis import free_port
from tracker.events.streams import stream_names
from tracker.events.writer import EventWriter


def run(coro):
    return asyncio.run(coro)


def test_concurrent_acked_appends_share_pipeline_round_trips(redis_url, sync_redis):
    async def scenario() -> EventWriter:
        client = Redis.from_url(redis_url)
        writer = EventWriter(client, stream_names(1), "ack")
        writer.start()
        results = await asyncio.gather(*(writer.append(orjson.dumps({"n": i})) for i in range(500)))
        assert all(results)  # each one durable when its append returned
        await writer.close()
        await client.aclose()
        return writer

    writer = run(scenario())
    assert sync_redis.xlen(stream_names(1)[0]) == 500
    assert writer.stats.written == 500
    assert writer.stats.round_trips < 50  # group commit: far fewer round trips than events


def test_fast_mode_returns_at_once_and_flushes_on_interval_and_close(redis_url, sync_redis):
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        writer = EventWriter(client, stream_names(2), "fast", flush_interval=0.002)
        writer.start()
        for i in range(1000):
            assert await writer.append(orjson.dumps({"n": i})) is False
        await writer.close()
        assert writer.stats.dropped == 0
        await client.aclose()

    run(scenario())
    assert sum(sync_redis.xlen(s) for s in stream_names(2)) == 1000
    numbers = sorted(orjson.loads(f[b"e"])["n"] for s in stream_names(2) for _, f in sync_redis.xrange(s))
    assert numbers == list(range(1000))


def test_writer_fails_open_while_redis_is_down_and_delivers_after(redis_server, redis_url, sync_redis):
    async def scenario() -> EventWriter:
        client = Redis.from_url(redis_url, socket_timeout=0.2, socket_connect_timeout=0.2)
        writer = EventWriter(client, stream_names(1), "ack")
        writer.start()
        assert await writer.append(b'{"n": 0}') is True
        redis_server.stop()
        # Answered (not durable) instead of hanging the redirect:
        assert await asyncio.wait_for(writer.append(b'{"n": 1}'), 5) is False
        assert writer.pending == 1
        redis_server.start()
        await asyncio.to_thread(wait_until, lambda: writer.pending == 0, 10, 0.05, "the retried event")
        await writer.close()
        await client.aclose()
        return writer

    writer = run(scenario())
    assert writer.stats.answered_unconfirmed == 1 and writer.stats.dropped == 0
    assert [orjson.loads(f[b"e"])["n"] for _, f in sync_redis.xrange(stream_names(1)[0])] == [0, 1]


@pytest.mark.slow
def test_ack_mode_survives_kill_9_of_the_edge_with_every_answered_click_in_the_stream(redis_url, sync_redis, tmp_path):
    port = free_port()
    # Run in tmp_path with a ClickHouse folder of its own: nothing of this test lands in the checkout's ./data.
    env = tracker_env(redis_url, TRACKER_DURABILITY="ack", TRACKER_CLICKHOUSE_URL=f"chdb://{tmp_path / 'admin-ch'}")
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
                await asyncio.wait_for(enough.wait(), 60)
                os.kill(edge.pid, signal.SIGKILL)
                await asyncio.wait_for(asyncio.gather(*tasks), 30)

        asyncio.run(load())
        edge.wait(10)
    finally:
        for process in (edge, admin):
            if process.poll() is None:
                process.kill()
                process.wait()
    in_stream = {orjson.loads(f[b"e"])["click_id"] for _, f in sync_redis.xrange(stream_names(1)[0])}
    assert len(answered) >= 1500
    assert set(answered) <= in_stream  # every click a client got a 302 for is durable
