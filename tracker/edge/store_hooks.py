"""`POST /hooks/shopify` and `POST /hooks/woocommerce`: store order webhooks on the edge (SPEC section 5).

Each delivery is verified over its raw body before anything reads it (401 and nothing recorded otherwise),
read by the platform's module in `tracker.stores`, validated at the conversion door and recorded like any
other conversion, once per identity. A hook whose secret is unset is not routed at all: it answers the
edge's 404, like any unknown path.

The platforms give up on an endpoint that keeps failing (WooCommerce disables a webhook after 5 failed
deliveries), so a verified body we do not use (another topic, a test order, an unpaid order, a field we
cannot read) is answered 200 and counted with its reason, never refused. The one failure answered as such
is Redis being unreachable (503): nothing was recorded, and saying so lets Shopify deliver it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.recipient import RecipientKeyer
from tracker.conversion import Conversion, InvalidConversion
from tracker.events.recorder import ACCEPTED, CONFLICT, DUPLICATE, ConversionRecorder
from tracker.http_json import ApiError, error_response, json_response, read_body
from tracker.metrics import CONVERSIONS, STORE_HOOKS
from tracker.settings import Settings
from tracker.stores import shopify, woocommerce
from tracker.stores.payload import StoreConversion, Unused, decode_json
from tracker.stores.webhook_signature import verify

# Shopify's orders with hundreds of line items stay well under this; the limit only bounds memory.
MAX_BODY = 8 * 1024 * 1024
_MAX_HEADER = 256

Reader = Callable[[str, object, str], list[StoreConversion]]


class StoreHooks:
    def __init__(self, settings: Settings, recorder: ConversionRecorder) -> None:
        self._settings = settings
        self._recorder = recorder
        self._keyer = RecipientKeyer(settings.secret)

    def routes(self) -> list[Route]:
        """The routes of the hooks whose secret is set."""
        routes = []
        if self._settings.shopify_secret:
            routes.append(Route("/hooks/shopify", self.shopify, methods=["POST"]))
        if self._settings.woocommerce_secret:
            routes.append(Route("/hooks/woocommerce", self.woocommerce, methods=["POST"]))
        return routes

    async def shopify(self, request: Request) -> Response:
        body = await _body(request, "shopify")
        if not isinstance(body, bytes):
            return body
        if not verify(self._settings.shopify_secret, body, request.headers.get("x-shopify-hmac-sha256")):
            return _unauthorized("shopify", "X-Shopify-Hmac-Sha256")
        topic = _header(request, "x-shopify-topic")
        # The event id is shared by every delivery of one event (two subscriptions, retries); the webhook id
        # by the retries of one delivery. The topic is part of the key: one event can fire several topics.
        delivery_id = _header(request, "x-shopify-event-id") or _header(request, "x-shopify-webhook-id")
        delivery = f"shopify:{topic}:{delivery_id}" if delivery_id else ""
        return await self._deliver("shopify", topic, body, delivery, shopify.conversions)

    async def woocommerce(self, request: Request) -> Response:
        body = await _body(request, "woocommerce")
        if not isinstance(body, bytes):
            return body
        # Sent unsigned when a webhook is saved; it records nothing, and WooCommerce keeps the webhook on a 200.
        if woocommerce.is_ping(body):
            STORE_HOOKS.labels("woocommerce", "ping", "").inc()
            return json_response({"ping": True})
        if not verify(self._settings.woocommerce_secret, body, request.headers.get("x-wc-webhook-signature")):
            return _unauthorized("woocommerce", "X-WC-Webhook-Signature")
        # Its delivery id changes at every attempt: deduplication rests on the conversions' own identities.
        return await self._deliver("woocommerce", _header(request, "x-wc-webhook-topic"), body, "",
                                   woocommerce.conversions)

    async def _deliver(self, platform: str, topic: str, body: bytes, delivery: str, read: Reader) -> Response:
        try:
            if delivery and await self._recorder.seen(delivery):
                STORE_HOOKS.labels(platform, "duplicate", "").inc()
                return json_response({"accepted": 0, "duplicates": 0, "conflicts": 0, "redelivered": True})
            try:
                found = read(topic, decode_json(body), self._settings.click_param)
            except Unused as exc:
                STORE_HOOKS.labels(platform, "ignored", exc.reason).inc()
                return json_response({"ignored": exc.reason})
            now_ms = int(time.time() * 1000)
            conversions = []
            for item in found:
                try:
                    conversions.append(Conversion.from_store(item, platform, self._keyer, now_ms))
                except InvalidConversion as exc:
                    STORE_HOOKS.labels(platform, "ignored", exc.reason).inc()
                    CONVERSIONS.labels(platform, "rejected").inc()
            outcomes = await self._recorder.record([c.record_item() for c in conversions])
            if delivery:
                await self._recorder.remember(delivery)
        except (RedisError, OSError):
            STORE_HOOKS.labels(platform, "unavailable", "").inc()
            return error_response(503, "event store unavailable, nothing was recorded; deliver again later")
        for outcome in outcomes:
            CONVERSIONS.labels(platform, outcome).inc()
        if outcomes:  # (a delivery whose every conversion was refused is counted above, with the reasons)
            STORE_HOOKS.labels(platform, "recorded" if ACCEPTED in outcomes else "duplicate", "").inc()
        return json_response({
            "accepted": outcomes.count(ACCEPTED),
            "duplicates": outcomes.count(DUPLICATE),
            "conflicts": outcomes.count(CONFLICT),
        })


async def _body(request: Request, platform: str) -> bytes | Response:
    try:
        return await read_body(request, MAX_BODY)
    except ApiError as exc:
        STORE_HOOKS.labels(platform, "too_large", "").inc()
        return error_response(exc.status, exc.message)


def _header(request: Request, name: str) -> str:
    """A header we key on: short printable ASCII, else '' (it is only trusted once the body verified)."""
    value = request.headers.get(name, "").strip()
    return value if len(value) <= _MAX_HEADER and value.isascii() and value.isprintable() else ""


def _unauthorized(platform: str, header: str) -> Response:
    STORE_HOOKS.labels(platform, "unauthorized", "").inc()
    return error_response(401, f"{header}: missing, or not the signature of this body under the shop's secret")
