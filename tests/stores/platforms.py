"""Deliveries built the way Shopify and WooCommerce build them: their JSON encodings, their headers, their
signatures (base64 HMAC-SHA256 of the exact body bytes), computed here independently of the code under test."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> Any:
    """A fresh copy of a sample payload; integers stay exact (json reads them as int)."""
    return copy.deepcopy(json.loads((SAMPLES / name).read_text()))


def hmac_base64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_body(payload: object) -> bytes:
    """Shopify posts compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def woocommerce_body(payload: object) -> bytes:
    """WooCommerce posts trim(wp_json_encode($payload)): PHP's json_encode, which escapes '/' and non-ASCII."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def shopify_headers(
    topic: str, body: bytes, secret: str, *, event_id: str | None = None, webhook_id: str | None = None
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-shopify-topic": topic,
        "x-shopify-hmac-sha256": hmac_base64(secret, body),
        "x-shopify-shop-domain": "jsmith.myshopify.com",
        "x-shopify-api-version": "2025-07",
        "x-shopify-webhook-id": webhook_id or str(uuid.uuid4()),
        "x-shopify-event-id": event_id or str(uuid.uuid4()),
        "x-shopify-triggered-at": "2025-07-01T12:00:00.000000000Z",
        "user-agent": "Shopify-Captain-Hook",
    }


def woocommerce_headers(topic: str, body: bytes, secret: str, *, webhook_id: int = 42) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "content-type": "application/json",
        "user-agent": "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)",
        "x-wc-webhook-source": "https://shop.example/",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": resource,
        "x-wc-webhook-event": event,
        "x-wc-webhook-signature": hmac_base64(secret, body),
        "x-wc-webhook-id": str(webhook_id),
        # wp_hash(webhook id . time): a new one at every attempt, so it cannot deduplicate anything.
        "x-wc-webhook-delivery-id": uuid.uuid4().hex,
    }


def woocommerce_ping(webhook_id: int = 42) -> tuple[bytes, dict[str, str]]:
    """What WC_Webhook::deliver_ping posts when a webhook is saved: a form body, no signature."""
    return (
        f"webhook_id={webhook_id}".encode(),
        {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)",
        },
    )
