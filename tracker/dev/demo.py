"""`tracker dev --demo`: demo campaigns and a tiny storefront, so the whole loop can be tried in a browser.

Message -> tap -> 302 -> landing -> "Buy now" -> thank-you page -> pixel -> the order in /reports, with nothing
but `tracker dev --demo` running. The links are created through the link store like the API creates them, and
point at the storefront served here on loopback; its pages load the edge's `/t.js` the way a real shop's
theme would, so what the demo proves is what a shop gets.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from shortlinks.link import Link, LinkDraft, LinkRules
from shortlinks.link_store import LinkStore
from shortlinks.recipient import RecipientKeyer
from tracker.events.recorder import MessageRecorder
from tracker.message import Message
from tracker.settings import Settings
from tracker.templating import templates_of

CURRENCY = "EUR"
LOOPBACK = "127.0.0.1"
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Product:
    name: str
    price: str  # a decimal string: it goes to the pixel as sent


PRODUCTS: dict[str, Product] = {
    "sneakers": Product("Trail running sneakers", "89.90"),
    "jacket": Product("Packable rain jacket", "129.00"),
    "socks": Product("Merino socks, 3 pairs", "24.50"),
}


@dataclass(frozen=True)
class DemoCampaign:
    """One link to create: the labels a marketer would send, and who it is for (demo numbers, not people)."""

    campaign: str
    message: str
    channel: str
    source: str
    product: str
    recipient: str = ""
    content: str = ""
    tags: tuple[str, ...] = ()


DEMO_CAMPAIGNS: tuple[DemoCampaign, ...] = (
    DemoCampaign("Black Friday", "teaser", "sms", "klaviyo", "sneakers"),
    DemoCampaign("Black Friday", "reminder-1", "sms", "klaviyo", "sneakers", recipient="+14155550123"),
    DemoCampaign("Black Friday", "reminder-1", "sms", "klaviyo", "sneakers", recipient="+447700900123"),
    DemoCampaign("Spring Drop", "launch", "whatsapp", "whatsapp_business", "jacket", content="carousel"),
    DemoCampaign("Spring Drop", "last-call", "whatsapp", "whatsapp_business", "jacket", recipient="+4915123456789"),
    DemoCampaign("Welcome flow", "welcome-1", "sms", "postscript", "socks", tags=("automation",)),
)


@dataclass(frozen=True)
class DemoLink:
    campaign: str
    message: str
    channel: str
    recipient: str
    short_url: str


def link_body(campaign: DemoCampaign, shop_base: str) -> dict[str, object]:
    """The `POST /v1/links` body the SMS platform would have sent for this message."""
    utm = {"source": campaign.source, "medium": campaign.channel, "campaign": campaign.campaign}
    if campaign.content:
        utm["content"] = campaign.content
    body: dict[str, object] = {
        "destination": f"{shop_base}/landing?product={campaign.product}",
        "utm": utm,
        "channel": campaign.channel,
        "campaign": campaign.campaign,
        "message": campaign.message,
        "tags": list(campaign.tags),
    }
    if campaign.recipient:
        body["recipient"] = campaign.recipient
    return body


TEMPLATES = templates_of(__file__)
_CSS = (Path(__file__).resolve().parent / "static" / "demo.css").read_text()


class DemoShop:
    """The storefront: `/` (what to try), `/landing`, `/checkout` (picks an order id) and `/thank-you`."""

    def __init__(self, edge_base: str, port: int, dashboard_url: str = "") -> None:
        self.edge_base = edge_base.rstrip("/")
        self.port = port
        self.base = f"http://{LOOPBACK}:{port}"
        self.dashboard_url = dashboard_url
        self.links: list[DemoLink] = []
        self._made: list[Link] = []
        self.app = Starlette(routes=[
            Route("/", self.index, methods=["GET"]),
            Route("/landing", self.landing, methods=["GET"]),
            Route("/checkout", self.checkout, methods=["GET"]),
            Route("/thank-you", self.thank_you, methods=["GET"]),
        ])

    async def seed(self, store: LinkStore, settings: Settings) -> list[DemoLink]:
        """Create the demo links (new ones each start: the shop's port may have changed)."""
        # The shop is ours and on loopback: let it through an allow-list made for real destinations.
        allowed = (*settings.allowed_hosts, LOOPBACK) if settings.allowed_hosts else ()
        rules = LinkRules(allowed_hosts=allowed, click_param=settings.click_param, domains=settings.domains)
        keyer = RecipientKeyer(settings.secret)
        now = datetime.now(UTC)
        drafts = [LinkDraft.from_json(link_body(c, self.base), rules, keyer.ref, now) for c in DEMO_CAMPAIGNS]
        links = await store.create_many(drafts, now)
        self._made = links
        self.links = [
            DemoLink(c.campaign, c.message, c.channel, c.recipient, f"{settings.short_base}/{link.code}")
            for c, link in zip(DEMO_CAMPAIGNS, links, strict=True)
        ]
        return self.links

    async def send_texts(self, recorder: MessageRecorder, settings: Settings) -> int:
        """The texts of the demo links, as the SMS platform reports them through `POST /v1/messages`: each one
        `sent` two minutes ago (by its link's code) and `delivered` a minute later, but the last one, which the
        carrier could not deliver; so the dashboard's delivery funnel and view-through have something to show.
        Returns how many events were new."""
        keyer = RecipientKeyer(settings.secret)
        now_ms = int(time.time() * 1000)
        messages = []
        for index, link in enumerate(self._made):
            message_id = f"demo-{link.code}"
            outcome = "undelivered" if index == len(self._made) - 1 else "delivered"
            for status, ago in (("sent", 120), (outcome, 60)):
                body = {"message_id": message_id, "status": status, "code": link.code, "provider": "demo",
                        "occurred_at": now_ms / 1000 - ago}
                messages.append(Message.from_api(body, keyer, now_ms, {link.code: link}))
        flags = await recorder.record_messages([(m.identity, orjson.dumps(m.to_event())) for m in messages])
        return sum(flags)

    def banner(self) -> str:
        lines = [
            f"demo storefront  {self.base}/   (loads {self.edge_base}/t.js; the thank-you page fires the pixel)",
            "demo links: open one in a browser, press \"Buy now\", then look at the order in "
            f"{self.dashboard_url or '/reports'}",
        ]
        for link in self.links:
            who = f"   (for {link.recipient})" if link.recipient else ""
            lines.append(f"  {link.short_url}  {link.channel:<9} {link.campaign} / {link.message}{who}")
        return "\n".join(lines) + "\n"

    async def index(self, request: Request) -> Response:
        return self._page(request, "index.html", "Demo shop", links=self.links)

    async def landing(self, request: Request) -> Response:
        key = request.query_params.get("product", "sneakers")
        params = request.query_params
        came = [(name.removeprefix("utm_"), params[name])
                for name in ("utm_source", "utm_medium", "utm_campaign", "utm_content") if params.get(name)]
        product = PRODUCTS.get(key, PRODUCTS["sneakers"])
        return self._page(request, "landing.html", product.name, product=product, came=came,
                          product_key=key if key in PRODUCTS else "sneakers")

    async def checkout(self, request: Request) -> Response:
        key = request.query_params.get("product", "sneakers")
        order_id = f"D-{secrets.token_hex(5).upper()}"  # one per purchase; reloading thank-you keeps it
        return RedirectResponse(f"/thank-you?product={key if key in PRODUCTS else 'sneakers'}&order_id={order_id}",
                                303)

    async def thank_you(self, request: Request) -> Response:
        key = request.query_params.get("product", "sneakers")
        product = PRODUCTS.get(key, PRODUCTS["sneakers"])
        order_id = request.query_params.get("order_id", "")
        if not _ORDER_ID.match(order_id):
            order_id = f"D-{secrets.token_hex(5).upper()}"
        conversion = {"order_id": order_id, "value": product.price, "currency": CURRENCY, "type": "purchase"}
        return self._page(request, "thank_you.html", "Thank you", product=product, order_id=order_id,
                          conversion=conversion, dashboard_url=self.dashboard_url)

    def _page(self, request: Request, template: str, title: str, **context: object) -> Response:
        return TEMPLATES.TemplateResponse(
            request, template, {"title": title, "css": _CSS, "edge_base": self.edge_base, "currency": CURRENCY,
                                **context},
            headers={"cache-control": "no-store"},
        )
