"""The loader's throughput: events per second from the Redis stream into chDB, parsed and enriched.

    .venv/bin/python loadtest/bench_loader.py [--events 200000] [--agents 200] [--batch 20000]

Fills a fresh embedded redis-server's stream with click events (and 5% conversions) the way the
edge writes them, with `--agents` distinct user agents (the loader caches user-agent parsing, so
the number of distinct agents matters: a real SMS audience has a few hundred per thousand taps
at most), then times `Loader.drain()` into a throw-away chDB database: XREADGROUP, parse, enrich,
insert with deduplication tokens, XACK, trim. Prints one markdown row; the event count in
ClickHouse is checked, so a fast but lossy run cannot pass.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

import orjson
import redis
from redis.asyncio import Redis

from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import migrate
from tracker.dev.embedded_redis import EmbeddedRedis
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import BATCH_SIZE, Loader, clickhouse_inserter

PHONES = ("iPhone; CPU iPhone OS 17_{v} like Mac OS X", "Linux; Android 14; SM-S91{v}B", "Linux; Android 13; Pixel {v}")


def user_agents(count: int) -> list[str]:
    agents = []
    for n in range(count):
        device = PHONES[n % len(PHONES)].format(v=n % 10)
        agents.append(f"Mozilla/5.0 ({device}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12{n % 10}.0.{n}.0 "
                      f"Mobile Safari/537.36")
    agents += ["WhatsApp/2.23.20.0 A", "curl/8.5.0", "TelegramBot (like TwitterBot)"]
    return agents


def fill(client: redis.Redis, stream: str, events: int, agents: list[str]) -> None:
    rng = random.Random(1)
    now = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for n in range(events):
        if n % 20 == 19:
            event = {"kind": "conversion", "order_id": f"o{n}", "type": "purchase", "value": "49.90",
                     "currency": "EUR", "click_id": f"c{n - 1}", "recipient_ref": "", "ts": now + n,
                     "source": "pixel", "verified": False}
        else:
            event = {"kind": "click", "click_id": f"c{n}", "ts": now + n, "code": f"k{n % 5000}", "channel": "sms",
                     "campaign": f"camp{n % 7}", "message": f"m{n % 3}", "utm_source": "klaviyo",
                     "utm_medium": "sms", "utm_campaign": f"camp{n % 7}", "utm_content": "", "utm_term": "",
                     "tags": [], "recipient_ref": f"{rng.getrandbits(64):016x}", "destination_host": "shop.example",
                     "domain": "go.shop.example",
                     "method": "GET", "user_agent": rng.choice(agents), "referer": "", "purpose": "",
                     "ip_ref": f"{rng.getrandbits(64):016x}"}
        pipe.xadd(stream, {"e": orjson.dumps(event)})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()


async def drain(redis_url: str, clickhouse: object, batch: int) -> Loader:
    client = Redis.from_url(redis_url)
    loader = Loader(client, clickhouse_inserter(clickhouse), stream_names(1), "bench", batch_size=batch)
    await loader.drain()
    await client.aclose()
    return loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tracker-loader-bench-"))
    server = EmbeddedRedis(root / "redis").start()
    try:
        client = redis.Redis.from_url(server.url)
        fill(client, stream_names(1)[0], args.events, user_agents(args.agents))
        clickhouse = connect(f"chdb://{root / 'clickhouse'}", database="bench")
        migrate(clickhouse)
        started, cpu = time.perf_counter(), time.process_time()
        loader = asyncio.run(drain(server.url, clickhouse, args.batch))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows = clickhouse.query("SELECT (SELECT count() FROM clicks) + (SELECT count() FROM conversions)").result_rows
        assert rows[0][0] == args.events, f"{rows[0][0]} rows for {args.events} events"
        # CPU time (this process and chDB's threads in it) is what other load on a shared machine barely moves.
        print("| events | distinct agents | batch | seconds | events/s | CPU µs/event | batches | load average |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {args.events:,} | {args.agents + 3} | {args.batch:,} | {seconds:.1f} | "
              f"{args.events / seconds:,.0f} | {1e6 * cpu / args.events:.1f} | {loader.stats.batches} | "
              f"{os.getloadavg()[0]:.2f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
