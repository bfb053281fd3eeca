"""Acceptance: a generated SMS campaign through the real doors, every report figure against an independent model.

A few thousand recipients get links (`POST /v1/links/batch`), texts registered through `POST /v1/messages` (by
code, by explicit labels, before or after their receipts, or never), delivery receipts from both providers
signed as Twilio and Telnyx sign them and POSTed to the edge over HTTP (delivered, undelivered, failed, read,
statuses to ignore, redeliveries), clicks with bot previews, purchases by click, by recipient only and by
neither through `POST /v1/conversions`, refunds, another currency and an excluded tag. The loader moves the
stream into chDB; each report (three models, view-through on, off and overridden) must equal, row by row and
to the cent, what `expected_report` (tests/reports/test_campaign.py, plain Python over the generated events)
says.

Twilio puts no time in a status callback: its receipts are stamped on arrival. The scenario is laid out so
that arrival time cannot change an answer: every other event lies in the past, every Twilio delivery arrives
between `posting_started` and the purchases made after it, and no recipient has two Twilio deliveries. The
model takes `posting_started` as their time.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from redis.asyncio import Redis

from shortlinks.recipient import RecipientKeyer
from tests.reports.test_campaign import expected_report
from tests.support.clickhouse import insert_rows
from tests.support.receipts import (
    TELNYX_PUBLIC_KEY,
    TWILIO_TOKEN,
    telnyx_event,
    telnyx_request,
    twilio_params,
    twilio_request,
)
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, SECRET, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import campaign_report
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

RECIPIENTS = 2500
ENV = {
    "TRACKER_ATTRIBUTION_WINDOW_SMS": "1d",
    "TRACKER_VIEW_WINDOW": "12h",
    "TRACKER_VIEW_WINDOW_SMS": "24h",
    "TRACKER_VIEW_WINDOW_WHATSAPP": "0",
    "TRACKER_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "TRACKER_TELNYX_PUBLIC_KEY": TELNYX_PUBLIC_KEY,
    "TRACKER_EVENT_STREAMS": "2",
}
# campaign -> (channel, message names, tags)
CAMPAIGNS = {
    "black_friday": ("sms", ("bf_day1", "bf_day2"), []),
    "winback": ("sms", ("wb_1",), []),
    "vip_preview": ("sms", ("vip_1",), ["vip"]),
    "whatsapp_drop": ("whatsapp", ("wa_1",), []),
    "qa_check": ("sms", ("qa_1",), ["test"]),
}
DOMAIN = "go.shop.example"  # the host of TRACKER_SHORT_BASE (tests/support/settings.py): every link's domain
PUBLIC_TWILIO = f"https://{DOMAIN}/hooks/twilio"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MS = timedelta(milliseconds=1)


@dataclass
class Links:
    """The links of one (campaign, message), one per recipient, and the labels they all carry."""

    codes: list[str]
    labels: dict[str, Any]  # channel, campaign, message, tags, utm_* as the link stores them


@dataclass
class Campaign:
    """What the test sent, and the rows it expects the tracker to hold, built side by side."""

    now: datetime
    rng: random.Random
    keyer: RecipientKeyer
    clicks: list[dict[str, Any]] = field(default_factory=list)
    message_rows: list[dict[str, Any]] = field(default_factory=list)  # as the messages table will hold them
    registrations: list[dict[str, Any]] = field(default_factory=list)  # POST /v1/messages bodies, early
    late_registrations: list[dict[str, Any]] = field(default_factory=list)  # posted after their receipts
    telnyx: list[dict[str, Any]] = field(default_factory=list)  # webhook bodies
    twilio: list[dict[str, str]] = field(default_factory=list)  # status callback parameters
    conversions: list[dict[str, Any]] = field(default_factory=list)  # POST /v1/conversions bodies, past
    # (seconds after the receipts, body, its row): bought once every Twilio delivery had arrived
    later_conversions: list[tuple[float, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    conversion_rows: list[dict[str, Any]] = field(default_factory=list)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def at_ms(moment: datetime) -> datetime:
    return datetime.fromtimestamp(epoch_ms(moment) / 1000, UTC)


def generate(now: datetime, links: dict[tuple[str, str], Links], phones: list[str], seed: int = 13) -> Campaign:
    """The campaign's events, and the rows they must become. `links[(campaign, message)]` holds the links made
    for `phones` (same order) and the labels those links carry."""
    rng = random.Random(seed)
    c = Campaign(now=now, rng=rng, keyer=RecipientKeyer(SECRET))
    twilio_recipients: set[str] = set()
    order = 0

    def row(message_id: str, status: str, ts: datetime, **fields: Any) -> None:
        """A row of the messages table; the defaults are what an unlabelled row holds."""
        base = {"message_id": message_id, "status": status, "ts": at_ms(ts), "recipient_ref": "", "code": "",
                "channel": "sms", "campaign": "", "message": "", "tags": [], "utm_source": "", "utm_medium": "",
                "utm_campaign": "", "utm_content": "", "utm_term": "", "provider": "", "error_code": "",
                "source": "api"}
        c.message_rows.append({**base, **fields})

    for index, phone in enumerate(phones):
        ref = c.keyer.ref(phone)
        person_clicks: list[dict[str, Any]] = []
        delivered_any = False
        for campaign_key in rng.sample(sorted(links), rng.choice((1, 1, 2, 2, 3))):
            campaign, message = campaign_key
            link_labels = links[campaign_key].labels
            code = links[campaign_key].codes[index]
            channel = link_labels["channel"]
            sent_at = now - timedelta(days=rng.uniform(2, 9))
            twilio_route = rng.random() < 0.4 and phone not in twilio_recipients
            if twilio_route:
                twilio_recipients.add(phone)
            provider = "twilio" if twilio_route else "telnyx"
            message_id = f"SM{rng.getrandbits(128):032x}" if twilio_route else str(uuid.UUID(int=rng.getrandbits(128)))
            if rng.random() < 0.8:  # registered by code: labels and recipient come from the link
                body: dict[str, Any] = {"message_id": message_id, "status": "sent", "code": code,
                                        "provider": provider, "occurred_at": iso(sent_at)}
                labels = {**link_labels, "code": code, "domain": DOMAIN}
            else:  # registered with its labels spelt out, no code (so no UTM values)
                body = {"message_id": message_id, "status": "sent", "recipient": phone, "channel": channel,
                        "campaign": campaign, "message": message, "tags": link_labels["tags"], "provider": provider,
                        "occurred_at": iso(sent_at)}
                labels = {"channel": channel, "campaign": campaign, "message": message, "tags": link_labels["tags"]}
            (c.late_registrations if rng.random() < 0.1 else c.registrations).append(body)
            row(message_id, "sent", sent_at, recipient_ref=ref, provider=provider, **labels)

            outcome = rng.random()
            delivered_at = sent_at + timedelta(seconds=rng.uniform(1, 600))
            if twilio_route:
                to = ("whatsapp:" + phone) if channel == "whatsapp" else phone
                status = "delivered" if outcome < 0.8 else ("undelivered" if outcome < 0.9 else
                                                            "failed" if outcome < 0.95 else "read")
                error = "30003" if status in ("undelivered", "failed") else ""
                c.twilio += [twilio_params(message_id, "sent", to), twilio_params(message_id, status, to, error)]
                if rng.random() < 0.1:  # a redelivery: counts once
                    c.twilio.append(twilio_params(message_id, status, to, error))
                if rng.random() < 0.1:  # a status that says nothing of delivery
                    c.twilio.append(twilio_params(message_id, "queued", to))
                row(message_id, "sent", now, recipient_ref=ref, channel=channel, provider="twilio", source="twilio")
                row(message_id, status, now, recipient_ref=ref, channel=channel, provider="twilio", error_code=error,
                    source="twilio")
                delivered_any |= status in ("delivered", "read")
            elif outcome < 0.08:  # the platform knew it was delivered and said so itself, with no labels
                c.registrations.append({"message_id": message_id, "status": "delivered",
                                        "occurred_at": iso(delivered_at)})
                row(message_id, "delivered", delivered_at)
                delivered_any = True
            else:
                status = "delivered" if outcome < 0.85 else ("delivery_failed" if outcome < 0.93 else
                                                             "sending_failed" if outcome < 0.97 else "expired")
                ours = {"delivered": "delivered", "delivery_failed": "undelivered", "sending_failed": "failed",
                        "expired": "undelivered"}[status]
                error = "" if ours == "delivered" else "40300"
                final = telnyx_event(message_id, "message.finalized", [(phone, status)],
                                     occurred_at=iso(delivered_at), error_code=error)
                c.telnyx += [telnyx_event(message_id, "message.sent", [(phone, "sent")], occurred_at=iso(sent_at)),
                             final, *([final] if rng.random() < 0.1 else [])]
                row(message_id, "sent", sent_at, recipient_ref=ref, provider="telnyx", source="telnyx")
                row(message_id, ours, delivered_at, recipient_ref=ref, provider="telnyx", error_code=error,
                    source="telnyx")
                delivered_any |= ours == "delivered"

            for _ in range(rng.choice((0, 0, 1, 1, 2))):  # taps on the link of this text
                tapped = sent_at + timedelta(seconds=rng.uniform(60, 2 * 86400))
                if tapped > now - timedelta(hours=13):
                    continue
                if rng.random() < 0.2:  # the messenger's link preview, just before
                    c.clicks.append(click_row(rng, code, link_labels, ref, tapped - timedelta(seconds=2), bot=True))
                person_clicks.append(click_row(rng, code, link_labels, ref, tapped, bot=False))
                c.clicks.append(person_clicks[-1])

        if rng.random() < 0.02:  # a Telnyx receipt for a text nobody registered: counted, never labelled
            ghost, ghost_at = str(uuid.UUID(int=rng.getrandbits(128))), now - timedelta(days=rng.uniform(2, 8))
            c.telnyx.append(telnyx_event(ghost, "message.finalized", [(phone, "delivered")], occurred_at=iso(ghost_at)))
            row(ghost, "delivered", ghost_at, recipient_ref=ref, provider="telnyx", source="telnyx")

        # Purchases: by click, by recipient only, by neither; some refunded; some in USD.
        for _ in range(rng.choice((0, 0, 1, 1, 2)) if (person_clicks or delivered_any) else rng.choice((0, 0, 1))):
            order += 1
            value = Decimal(rng.randrange(500, 30_000)) / 100
            currency = "USD" if rng.random() < 0.12 else "EUR"
            body = {"order_id": f"order-{order}", "type": "purchase", "value": str(value), "currency": currency}
            how = rng.random()
            if how < 0.35 and person_clicks:
                body["click_id"] = rng.choice(person_clicks)["click_id"]
            elif how < 0.85:
                body["recipient"] = phone
            purchase_row = {"order_id": body["order_id"], "type": "purchase", "value": value, "currency": currency,
                            "click_id": body.get("click_id", ""), "recipient_ref": ref if "recipient" in body else "",
                            "ts": None, "source": "api", "verified": True}
            if phone in twilio_recipients and rng.random() < 0.5:  # after the Twilio deliveries arrived
                c.later_conversions.append((rng.uniform(1, 120), body, purchase_row))
            else:
                bought = now - timedelta(hours=rng.uniform(13, 8 * 24))
                body["occurred_at"] = iso(bought)
                purchase_row["ts"] = at_ms(bought)
                c.conversions.append(body)
            c.conversion_rows.append(purchase_row)
            if rng.random() < 0.12:
                refunded = value if rng.random() < 0.5 else (value / 3).quantize(Decimal("0.01"))
                refund_at = now - timedelta(hours=1)
                c.conversions.append({"order_id": body["order_id"], "type": "refund", "value": str(refunded),
                                      "currency": currency, "occurred_at": iso(refund_at)})
                c.conversion_rows.append({**purchase_row, "type": "refund", "value": refunded, "ts": at_ms(refund_at),
                                          "click_id": "", "recipient_ref": ""})
    rng.shuffle(c.telnyx)
    rng.shuffle(c.twilio)
    return c


def click_row(rng: random.Random, code: str, labels: dict[str, Any], ref: str, at: datetime,
              bot: bool) -> dict[str, Any]:
    """A click on the link as the edge and the loader would store it."""
    return {
        "click_id": f"k{rng.getrandbits(96):024x}", "ts": at_ms(at), "code": code, **labels,
        "recipient_ref": ref, "destination_host": "shop.example", "domain": DOMAIN, "method": "GET",
        "is_bot": bot,
        "bot_reason": "preview" if bot else "", "device_type": "mobile", "os": "iOS", "browser": "Safari",
        "referer": "", "ip_ref": f"ip{rng.randrange(900)}",
    }


@pytest.fixture
def servers(redis_url: str) -> Iterator[tuple[httpx.Client, httpx.Client, Settings]]:
    settings = make_settings(redis_url, **ENV)
    with serve_in_thread(Admin(settings).app) as admin_base, serve_in_thread(Edge(settings)) as edge_base, \
            httpx.Client(base_url=admin_base, headers=AUTH, timeout=60) as admin, \
            httpx.Client(base_url=edge_base, timeout=60) as edge:
        yield admin, edge, settings


def make_links(admin: httpx.Client, phones: list[str]) -> dict[tuple[str, str], Links]:
    links = {}
    for campaign, (channel, messages, tags) in CAMPAIGNS.items():
        for message in messages:
            template = {"destination": "https://shop.example/sale", "campaign": campaign, "message": message,
                        "tags": tags, "channel": channel, "utm": {"source": "attentive", "medium": channel}}
            reply = admin.post("/v1/links/batch", json={"template": template, "recipients": phones})
            assert reply.status_code == 201, reply.text
            made = reply.json()["links"]
            assert [link["recipient_ref"] for link in made] == [RecipientKeyer(SECRET).ref(p) for p in phones]
            stored = admin.get(f"/v1/links/{made[0]['code']}").json()
            labels = {name: stored[name] for name in ("channel", "campaign", "message", "tags")}
            labels.update({f"utm_{key}": stored["utm"].get(key, "") for key in ("source", "medium", "campaign",
                                                                                "content", "term")})
            links[(campaign, message)] = Links([link["code"] for link in made], labels)
    return links


def post_all(admin: httpx.Client, path: str, bodies: list[dict[str, Any]], size: int) -> tuple[int, int]:
    accepted = duplicates = 0
    for start in range(0, len(bodies), size):
        reply = admin.post(path, json=bodies[start:start + size])
        assert reply.status_code == 202, reply.text
        accepted += reply.json()["accepted"]
        duplicates += reply.json()["duplicates"]
    return accepted, duplicates


def test_a_generated_campaign_reports_exactly_what_an_independent_model_computes(
    servers: tuple[httpx.Client, httpx.Client, Settings], clickhouse: Client, redis_url: str,
) -> None:
    admin, edge, settings = servers
    now = datetime.now(UTC).replace(microsecond=0)
    phones = [f"+1415555{i:04d}" for i in range(RECIPIENTS)]
    campaign = generate(now, make_links(admin, phones), phones)

    post_all(admin, "/v1/messages", campaign.registrations, 5000)
    posting_started = datetime.now(UTC)
    receipts = {"telnyx": 0, "twilio": 0}
    for event in campaign.telnyx:
        body, headers = telnyx_request(event)
        reply = edge.post("/hooks/telnyx", content=body, headers=headers)
        assert reply.status_code == 200, reply.text
        receipts["telnyx"] += reply.json()["accepted"]
    for params in campaign.twilio:
        body, headers = twilio_request(PUBLIC_TWILIO, params)
        reply = edge.post("/hooks/twilio", content=body, headers=headers)
        assert reply.status_code == 200, reply.text
        receipts["twilio"] += reply.json()["accepted"]
    post_all(admin, "/v1/messages", campaign.late_registrations, 5000)
    post_all(admin, "/v1/conversions", campaign.conversions, 1000)
    purchases_from = datetime.now(UTC)
    for delay, conversion, row in campaign.later_conversions:
        bought = purchases_from + timedelta(seconds=delay)
        conversion["occurred_at"] = iso(bought)
        row["ts"] = at_ms(bought)
    post_all(admin, "/v1/conversions", [conversion for _, conversion, _ in campaign.later_conversions], 1000)
    insert_rows(clickhouse, clicks=campaign.clicks)
    asyncio.run(load_everything(redis_url, clickhouse, settings))

    # Every event landed exactly once.
    assert clickhouse.query("SELECT count() FROM messages").result_rows[0][0] == len(campaign.message_rows)
    assert clickhouse.query("SELECT count() FROM (SELECT DISTINCT source, message_id, status FROM messages)"
                            ).result_rows[0][0] == len(campaign.message_rows)
    assert clickhouse.query("SELECT count() FROM conversions").result_rows[0][0] == len(campaign.conversion_rows)
    assert clickhouse.query("SELECT countIf(recipient_ref = '') FROM messages WHERE source != 'api'"
                            ).result_rows[0][0] == 0

    # The model's Twilio rows: stamped on arrival, which no answer depends on (module docstring).
    assert datetime.now(UTC) - posting_started < timedelta(hours=11)
    model_rows = [{**row, "ts": at_ms(posting_started)} if row["source"] == "twilio" else row
                  for row in campaign.message_rows]
    cases: list[dict[str, str]] = [
        *({"model": model} for model in MODELS),
        *({"model": model, "view_window": "0"} for model in MODELS),
        {"model": "last_click", "group_by": "channel,campaign,message,day"},
        {"model": "linear", "group_by": "code,domain,device_type"},
        {"model": "linear", "group_by": "source,medium,campaign", "view_window": "3d"},
        {"model": "first_click", "group_by": "campaign", "view_window": "3d", "currency": "USD"},
        {"model": "last_click", "group_by": "channel", "exclude_tags": ""},
    ]
    seen = {"view": 0, "click": 0, "unattributed": 0, "rows": 0}
    for case in cases:
        params = {"from": iso(now - timedelta(days=10)), "to": iso(now + timedelta(days=1)),
                  "exclude_tags": "test", **case}
        query = ReportQuery.from_params(params, now)
        report = campaign_report(clickhouse, query, settings)
        currency, rows, unattributed_orders, unattributed_revenue = expected_report(
            campaign.clicks, campaign.conversion_rows, query, settings, model_rows)
        assert report.currency == currency, case
        assert report.rows == rows, case
        assert (report.unattributed_orders, report.unattributed_revenue) == (
            unattributed_orders, unattributed_revenue), case
        seen["view"] += sum(1 for row in rows if row["view_orders"])
        seen["click"] += sum(1 for row in rows if row["click_orders"])
        seen["unattributed"] += unattributed_orders
        seen["rows"] += len(rows)
    # The campaign really exercised every path.
    assert seen["view"] > 10 and seen["click"] > 10 and seen["unattributed"] > 10, seen
    assert sum(1 for r in model_rows if r["status"] in ("failed", "undelivered")) > 50
    assert receipts["twilio"] > 500 and receipts["telnyx"] > 500, receipts
    assert len({r["message_id"] for r in model_rows}) > 3000 and len(campaign.clicks) > 1000


async def load_everything(redis_url: str, clickhouse: Client, settings: Settings) -> None:
    client = Redis.from_url(redis_url)
    try:
        await Loader(client, clickhouse_inserter(clickhouse), stream_names(settings.event_streams), "test").drain()
    finally:
        await client.aclose()

