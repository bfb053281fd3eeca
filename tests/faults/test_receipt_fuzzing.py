"""Forged, replayed, stale and malformed delivery receipts against the edge over real HTTP: 401 or 400, never a
5xx, and nothing recorded; a genuine receipt sent again is acknowledged and counted once.

Hypothesis writes the bodies and headers: forgeries (no signature, a wrong one, a signature over other bytes),
and bodies that are signed correctly but are garbage (it must be the shape that is refused, not a crash).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.receipts import (
    TELNYX_PUBLIC_KEY,
    TWILIO_TOKEN,
    telnyx_event,
    telnyx_request,
    telnyx_signed,
    twilio_params,
    twilio_request,
    twilio_signature,
)
from tests.support.servers import serve_in_thread
from tests.support.settings import make_settings
from tracker.edge.app import Edge
from tracker.events.streams import stream_names

STREAM = stream_names(1)[0]
PUBLIC = "https://go.shop.example/hooks/twilio"
PHONE = "+14155550142"
EXAMPLES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)
TWILIO_NAMES = ["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "To", "ErrorCode", "AccountSid", "Extra"]
form_params = st.dictionaries(st.sampled_from(TWILIO_NAMES) | st.text(max_size=10),
                              st.sampled_from(["sent", "delivered", "queued", "SM1", PHONE, "", "whatsapp:"])
                              | st.text(max_size=40), max_size=8)


@dataclass
class Edge_:
    client: httpx.Client
    redis: redis.Redis

    def state(self) -> tuple[int, int]:
        """What a refused receipt must leave as it was: the event stream and every key."""
        return int(self.redis.xlen(STREAM)), int(self.redis.dbsize())


@pytest.fixture
def edge(redis_url: str, sync_redis: redis.Redis) -> Iterator[Edge_]:
    tracker_settings = make_settings(redis_url, TRACKER_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
                                     TRACKER_TELNYX_PUBLIC_KEY=TELNYX_PUBLIC_KEY)
    with serve_in_thread(Edge(tracker_settings)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Edge_(client, sync_redis)


def check(edge: Edge_, reply: httpx.Response, before: tuple[int, int], allowed: set[int]) -> None:
    assert reply.status_code in allowed, (reply.status_code, reply.text[:300])
    if reply.status_code != 200:
        assert reply.headers["x-tracker-error"].strip() and set(reply.json()) == {"error"}
        assert edge.state() == before, "a refused receipt changed Redis"


def test_forged_twilio_receipts_are_401_and_record_nothing(edge: Edge_) -> None:
    seen: dict[int, int] = {}
    header_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
    forgeries = st.tuples(form_params, st.sampled_from(["none", "empty", "other token", "other url", "random"]),
                          header_text)

    @EXAMPLES
    @given(forgery=forgeries)
    def run(forgery: tuple[dict[str, str], str, str]) -> None:
        params, how, noise = forgery
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if how != "none":
            headers["x-twilio-signature"] = {
                "empty": "", "other token": twilio_signature("not-our-token", PUBLIC, params),
                "other url": twilio_signature(TWILIO_TOKEN, "https://evil.example/hooks/twilio", params),
                "random": noise,
            }[how]
        before = edge.state()
        reply = edge.client.post("/hooks/twilio", content=urlencode(params).encode(), headers=headers)
        seen[reply.status_code] = seen.get(reply.status_code, 0) + 1
        check(edge, reply, before, {401})

    run()
    assert seen.get(401, 0) >= 40, seen


def test_signed_twilio_garbage_is_200_or_400_never_a_5xx(edge: Edge_) -> None:
    seen: dict[int, int] = {}

    @EXAMPLES
    @given(params=form_params)
    def run(params: dict[str, str]) -> None:
        body, headers = twilio_request(PUBLIC, params)
        before = edge.state()
        reply = edge.client.post("/hooks/twilio", content=body, headers=headers)
        seen[reply.status_code] = seen.get(reply.status_code, 0) + 1
        check(edge, reply, before, {200, 400})

    run()
    assert seen.get(400, 0) >= 10, seen


def test_forged_stale_and_future_telnyx_receipts_are_401_and_record_nothing(edge: Edge_) -> None:
    genuine = telnyx_event("40385f64-5717-4562-b3fc-2c963f66afa6", "message.finalized", [(PHONE, "delivered")])
    cases = st.tuples(st.sampled_from(["no signature", "no timestamp", "stale", "future", "tampered", "random",
                                       "garbage timestamp"]), st.binary(max_size=40), st.integers(301, 10**9))

    @EXAMPLES
    @given(case=cases)
    def run(case: tuple[str, bytes, int]) -> None:
        how, noise, skew = case
        now = int(time.time())
        stamp = {"stale": now - skew, "future": now + skew}.get(how, now)
        body, headers = telnyx_request(genuine, timestamp=stamp)
        if how == "no signature":
            del headers["telnyx-signature-ed25519"]
        elif how == "no timestamp":
            del headers["telnyx-timestamp"]
        elif how == "tampered":
            body = body.replace(b"delivered", b"delivery_failed") + noise
        elif how == "random":
            headers["telnyx-signature-ed25519"] = noise.hex() or "x"
        elif how == "garbage timestamp":
            headers["telnyx-timestamp"] = noise.hex() + "z"
        before = edge.state()
        reply = edge.client.post("/hooks/telnyx", content=body, headers=headers)
        check(edge, reply, before, {401})

    run()


def test_signed_telnyx_garbage_is_200_or_400_never_a_5xx(edge: Edge_) -> None:
    genuine = telnyx_event("id-1", "message.finalized", [(PHONE, "delivered")])
    paths = [("data",), ("data", "event_type"), ("data", "payload"), ("data", "payload", "id"),
             ("data", "payload", "to"), ("data", "occurred_at"), ("data", "payload", "errors")]
    seen: dict[int, int] = {}

    def replaced(path: tuple[str, ...], value: Any) -> dict[str, Any]:
        event = orjson.loads(orjson.dumps(genuine))
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return event

    bodies = st.one_of(
        st.tuples(st.sampled_from(paths), json_values).map(lambda t: orjson.dumps(replaced(*t))),
        json_values.map(orjson.dumps),
        st.binary(max_size=100),
    )

    @EXAMPLES
    @given(raw=bodies)
    def run(raw: bytes) -> None:
        body, headers = telnyx_signed(raw)
        before = edge.state()
        reply = edge.client.post("/hooks/telnyx", content=body, headers=headers)
        seen[reply.status_code] = seen.get(reply.status_code, 0) + 1
        check(edge, reply, before, {200, 400})

    run()
    assert seen.get(400, 0) >= 20, seen


def test_a_replayed_genuine_receipt_is_acknowledged_and_counted_once(edge: Edge_) -> None:
    twilio = twilio_request(PUBLIC, twilio_params("SM" + "f" * 32, "delivered", PHONE))
    telnyx = telnyx_request(telnyx_event("id-2", "message.finalized", [(PHONE, "delivered")]))
    for path, (body, headers) in (("/hooks/twilio", twilio), ("/hooks/telnyx", telnyx)):
        assert edge.client.post(path, content=body, headers=headers).json()["accepted"] == 1
        before = edge.state()
        for _ in range(20):
            reply = edge.client.post(path, content=body, headers=headers)
            assert reply.status_code == 200 and reply.json() == {"accepted": 0, "duplicates": 1, "ignored": 0}
        assert edge.state() == before
    assert edge.redis.xlen(STREAM) == 2
