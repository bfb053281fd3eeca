"""Fake conversions: with signing required, unsigned or tampered pixels are refused; replays count once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from tests.support.processes import load_into_clickhouse
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, SECRET, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge


def sign(order_id: str, value: str, currency: str, type_: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), f"{order_id}|{value}|{currency}|{type_}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Servers:
    admin_url: str
    edge_url: str
    redis: redis.Redis

    def state(self) -> tuple[int, int]:
        return sum(int(self.redis.xlen(k)) for k in self.redis.scan_iter("tracker:events:*")), int(self.redis.dbsize())


@pytest.fixture
def servers(redis_url: str, sync_redis: redis.Redis) -> Iterator[Servers]:
    tracker_settings = make_settings(redis_url, TRACKER_PIXEL_SIGNING="required")
    with serve_in_thread(Admin(tracker_settings).app) as admin_url, serve_in_thread(Edge(tracker_settings)) as edge_url:
        yield Servers(admin_url, edge_url, sync_redis)


def test_unsigned_or_tampered_pixels_are_refused_with_a_reason_and_record_nothing(servers: Servers) -> None:
    good = {"order_id": "o-77", "value": "49.90", "currency": "EUR", "type": "purchase"}
    sig = sign("o-77", "49.90", "EUR", "purchase")
    forged: list[tuple[str, dict[str, str], str]] = [
        ("unsigned", good, "signature_required"),
        ("empty sig", {**good, "sig": ""}, "signature_required"),
        ("value raised", {**good, "value": "4990.00", "sig": sig}, "bad_signature"),
        ("value rewritten", {**good, "value": "49.9", "sig": sig}, "bad_signature"),
        ("currency changed", {**good, "currency": "USD", "sig": sig}, "bad_signature"),
        ("type changed", {**good, "type": "refund", "sig": sig}, "bad_signature"),
        ("other order", {**good, "order_id": "o-78", "sig": sig}, "bad_signature"),
        ("wrong secret", {**good, "sig": sign("o-77", "49.90", "EUR", "purchase", "guess")}, "bad_signature"),
        ("truncated", {**good, "sig": sig[:32]}, "bad_signature"),
        ("not hex", {**good, "sig": "z" * 64}, "bad_signature"),
        ("unicode", {**good, "sig": "\uff41" * 64}, "bad_signature"),
        ("type omitted, sig over 'purchase'", {k: v for k, v in good.items() if k != "type"} | {"sig": sig},
         "bad_signature"),
        ("sig of the pipe-joined fields shifted", {**good, "order_id": "o-77|49.90", "value": "EUR",
                                                   "currency": "purchase", "sig": sig}, "bad_signature"),
    ]
    before = servers.state()
    outcomes = {}
    with httpx.Client(base_url=servers.edge_url) as edge:
        for name, params, reason in forged:
            reply = edge.get("/px.gif", params=params)
            outcomes[name] = (reply.status_code, reply.headers.get("x-tracker-error"))
            assert outcomes[name] == (400, reason), (name, outcomes[name])
        repeated = edge.get(f"/px.gif?order_id=o-77&value=49.90&currency=EUR&type=purchase&sig=0&sig={sig}")
        outcomes["sig repeated"] = (repeated.status_code, repeated.headers.get("x-tracker-error"))
    after = servers.state()
    print(f"\n[fake pixels] {len(outcomes)} forgeries: {Counter(outcomes.values())}; stream and keys before {before}, "
          f"after {after}")
    assert outcomes["sig repeated"] == (400, "repeated_parameter")
    assert after == before


@pytest.mark.slow
def test_one_order_replayed_100_times_through_pixel_and_api_counts_once(servers: Servers, clickhouse: Any,
                                                                         redis_url: str) -> None:
    order, value = "o-replay-1", "49.90"
    pixel = {"order_id": order, "value": value, "currency": "EUR", "type": "purchase",
             "sig": sign(order, value, "EUR", "purchase")}
    api = {"order_id": order, "type": "purchase", "value": value, "currency": "EUR"}
    # Variants that are the same order: padded id, upper-case type, the value written longer.
    api_variants = [api, {**api, "order_id": f"  {order} "}, {**api, "type": "PURCHASE"}, {**api, "value": 49.9}]
    refund = {"order_id": order, "type": "refund", "value": "10", "currency": "EUR"}
    plan = ["pixel"] * 50 + ["api"] * 50 + ["refund"] * 10
    random.Random(9).shuffle(plan)

    async def replay() -> list[httpx.Response]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
            auth = {"Authorization": f"Bearer {API_KEY}"}

            async def send(n: int, kind: str) -> httpx.Response:
                if kind == "pixel":
                    return await client.get(f"{servers.edge_url}/px.gif", params=pixel)
                body = refund if kind == "refund" else api_variants[n % len(api_variants)]
                return await client.post(f"{servers.admin_url}/v1/conversions", json=body, headers=auth)

            return await asyncio.gather(*(send(n, kind) for n, kind in enumerate(plan)))

    replies = asyncio.run(replay())
    api_counts: Counter[str] = Counter()
    for kind, reply in zip(plan, replies, strict=True):
        assert reply.status_code == (200 if kind == "pixel" else 202), (kind, reply.status_code, reply.text)
        if kind != "pixel":
            api_counts.update({f"{kind} accepted": reply.json()["accepted"], f"{kind} duplicates":
                               reply.json()["duplicates"]})
    load_into_clickhouse(redis_url, clickhouse)
    rows = clickhouse.query(f"SELECT type, count(), toString(sum(value)), groupArray(source) FROM conversions "
                            f"WHERE order_id = '{order}' GROUP BY type ORDER BY type").result_rows
    print(f"\n[replayed order] 110 sends (50 signed pixels, 50 API in 4 spellings, 10 refunds): API said "
          f"{dict(api_counts)}; ClickHouse rows {rows}")
    assert [(t, n, total) for t, n, total, _ in rows] == [("purchase", 1, "49.9"), ("refund", 1, "10")]
    assert api_counts["refund accepted"] == 1 and api_counts["api accepted"] <= 1
