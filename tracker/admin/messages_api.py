"""`POST /v1/messages`: one message event or a list, recorded once per (message_id, status).

A platform registers what it sent (and, if it has them, the receipts it got) here; the provider hooks on
the edge send receipts of their own, which join these by message_id. An item naming a link by `code` takes
that link's channel, campaign, message, tags, UTM values and recipient as the defaults of what it leaves
out. The links of a batch are looked up in one round trip, and a batch is refused whole (422 naming the
item) when any item is bad, so a platform retrying a fixed batch never half-records it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.link import Link
from shortlinks.recipient import RecipientKeyer
from tracker.events.recorder import MessageRecorder
from tracker.http_json import ApiError, bounded_list, json_response, read_json
from tracker.message import InvalidMessage, Message, parse_code
from tracker.metrics import MESSAGES
from tracker.settings import Settings

MAX_MESSAGES = 10_000
MAX_BODY = 8 * 1024 * 1024


class LinkLookup(Protocol):
    """What the API needs of the link store: many links by code at once, on the first of the short domains
    that has each (None for a code with no link)."""

    async def find_many(self, codes: Sequence[str], domains: Sequence[str]) -> list[Link | None]: ...


class MessagesApi:
    def __init__(self, settings: Settings, recorder: MessageRecorder, links: LinkLookup) -> None:
        self._keyer = RecipientKeyer(settings.secret)
        self._recorder = recorder
        self._links = links
        self._domains = settings.domains

    def routes(self) -> list[Route]:
        return [Route("/v1/messages", self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        body = await read_json(request, MAX_BODY)
        items = bounded_list(body if isinstance(body, list) else [body], MAX_MESSAGES, "body",
                             f"one message or a list of 1 to {MAX_MESSAGES}")
        links = await self._links_of(items, isinstance(body, list))
        now_ms = int(time.time() * 1000)
        messages = []
        for index, item in enumerate(items):
            try:
                messages.append(Message.from_api(item, self._keyer, now_ms, links))
            except InvalidMessage as exc:
                MESSAGES.labels("api", "rejected").inc()
                raise ApiError(422, f"{_where(index, body)}{exc}") from None
        try:
            accepted = await self._recorder.record_messages(
                [(m.identity, orjson.dumps(m.to_event())) for m in messages])
        except (RedisError, OSError):
            raise ApiError(503, "event store unavailable, nothing was recorded; retry later") from None
        new = sum(accepted)
        MESSAGES.labels("api", "accepted").inc(new)
        MESSAGES.labels("api", "duplicate").inc(len(accepted) - new)
        return json_response({"accepted": new, "duplicates": len(accepted) - new}, 202)

    async def _links_of(self, items: list[object], is_list: bool) -> dict[str, Link]:
        """The links the items name, by code. A bad code is refused here, naming its item."""
        codes: dict[str, None] = {}
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("code") is not None:
                try:
                    code = parse_code(item["code"])
                except InvalidMessage as exc:
                    raise ApiError(422, f"{_where(index, items if is_list else item)}{exc}") from None
                if code:
                    codes[code] = None
        if not codes:
            return {}
        found = await self._links.find_many(list(codes), self._domains)
        return {link.code: link for link in found if link is not None}


def _where(index: int, body: object) -> str:
    return f"body[{index}]: " if isinstance(body, list) else ""
