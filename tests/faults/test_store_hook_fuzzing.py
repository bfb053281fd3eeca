"""Generated deliveries against `/hooks/shopify` and `/hooks/woocommerce` over real HTTP: never a 5xx.

Hypothesis writes the bodies (real samples with one field replaced by anything, JSON of any shape, bytes) and
the headers (topics, delivery ids and content types of any bytes); half of the bodies carry a valid signature,
so the readers behind the check see the garbage too. A delivery that fails the check must leave Redis as it
was; a verified one may record (it is the shop's own data) but must still be answered 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.test_malformed_input import RAW_TOKENS, json_values
from tests.stores.platforms import sample
from tests.support.servers import serve_in_thread
from tests.support.settings import make_settings
from tracker.edge.app import Edge
from tracker.events.streams import stream_names
from tracker.stores.webhook_signature import sign

SECRETS = {"shopify": "shpss_fuzz_0123456789abcdef0123", "woocommerce": "wc_fuzz_0123456789abcdef01234"}
SIGNATURE = {"shopify": "x-shopify-hmac-sha256", "woocommerce": "x-wc-webhook-signature"}
TOPIC = {"shopify": "x-shopify-topic", "woocommerce": "x-wc-webhook-topic"}
TOPICS = ["orders/paid", "refunds/create", "orders/cancelled", "orders/create", "order.created", "order.updated",
          "order.deleted", ""]
SAMPLES = ["shopify_orders_paid.json", "shopify_refunds_create.json", "woocommerce_order.json"]
FIELDS = ["id", "order_id", "test", "total_price", "total", "currency", "note_attributes", "meta_data", "refunds",
          "transactions", "financial_status", "status", "landing_site", "billing", "billing_address", "customer",
          "phone", "email", "processed_at", "cancelled_at", "date_paid_gmt", "date_modified_gmt"]
STREAM = stream_names(1)[0]
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any bytes a header may carry on the wire (h11 refuses control characters and surrounding whitespace).
header_bytes = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c > 0x20 and c != 0x7F))
raw_json = st.sampled_from(RAW_TOKENS) | json_values.map(lambda v: orjson.dumps(v).decode())


def with_field(name: str, field: str, raw: str) -> bytes:
    payload = sample(name)
    payload.pop(field, None)
    head = orjson.dumps(payload).decode()[:-1]
    return f'{head},"{field}":{raw}}}'.encode()


bodies = st.one_of(
    st.builds(with_field, st.sampled_from(SAMPLES), st.sampled_from(FIELDS), raw_json),
    st.sampled_from(SAMPLES).map(lambda name: orjson.dumps({**sample(name), "test": False})),
    raw_json.map(str.encode),
    st.binary(max_size=300),
    st.integers(0, 10**25).map(lambda n: b"webhook_id=%d" % n),
)


@pytest.fixture
def edge(redis_url: str) -> Iterator[httpx.Client]:
    tracker_settings = make_settings(redis_url, TRACKER_SHOPIFY_SECRET=SECRETS["shopify"],
                                     TRACKER_WOOCOMMERCE_SECRET=SECRETS["woocommerce"])
    with serve_in_thread(Edge(tracker_settings)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def state(client: redis.Redis) -> tuple[int, int]:
    return int(client.xlen(STREAM)), int(client.dbsize())


def test_hooks_never_answer_5xx_to_generated_bodies_and_headers(edge: httpx.Client, sync_redis: redis.Redis) -> None:
    seen: dict[tuple[str, int], int] = {}

    @EXAMPLES
    @given(
        platform=st.sampled_from(["shopify", "woocommerce"]),
        body=bodies,
        signed=st.sampled_from(["valid", "valid", "garbage", "missing"]),
        garbage=header_bytes,
        topic=st.sampled_from(TOPICS).map(str.encode) | header_bytes,
        delivery=header_bytes,
        content_type=st.sampled_from([b"application/json", b"application/x-www-form-urlencoded", b""]) | header_bytes,
    )
    def check(platform: str, body: bytes, signed: str, garbage: bytes, topic: bytes, delivery: bytes,
              content_type: bytes) -> None:
        headers: dict[str, Any] = {TOPIC[platform]: topic, "content-type": content_type,
                                   "x-shopify-event-id": delivery, "x-wc-webhook-delivery-id": delivery}
        if signed == "valid":
            headers[SIGNATURE[platform]] = sign(SECRETS[platform], body)
        elif signed == "garbage":
            headers[SIGNATURE[platform]] = garbage
        before = state(sync_redis)
        reply = edge.post(f"/hooks/{platform}", content=body, headers=headers)
        seen[(platform, reply.status_code)] = seen.get((platform, reply.status_code), 0) + 1
        assert reply.status_code in (200, 401), (reply.status_code, reply.text[:300])
        assert reply.headers["content-type"] == "application/json"
        if reply.status_code == 401:
            assert state(sync_redis) == before, "a delivery that failed its signature changed Redis"
            assert orjson.loads(reply.content)["error"]

    check()
    print(f"\n[hook fuzz] statuses {dict(sorted(seen.items()))}")
    assert seen.get(("shopify", 200)) and seen.get(("woocommerce", 200)) and seen.get(("shopify", 401))
