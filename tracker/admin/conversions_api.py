"""`POST /v1/conversions`: one conversion or a list, recorded once per (order_id, type)."""

from __future__ import annotations

import time

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.recipient import RecipientKeyer
from tracker.conversion import Conversion, InvalidConversion, conversion_identity
from tracker.events.recorder import ConversionRecorder
from tracker.http_json import ApiError, json_response, read_json
from tracker.metrics import CONVERSIONS
from tracker.settings import Settings

MAX_CONVERSIONS = 1000
MAX_BODY = 1024 * 1024


class ConversionsApi:
    def __init__(self, settings: Settings, recorder: ConversionRecorder) -> None:
        self._keyer = RecipientKeyer(settings.secret)
        self._recorder = recorder

    def routes(self) -> list[Route]:
        return [Route("/v1/conversions", self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        body = await read_json(request, MAX_BODY)
        items = body if isinstance(body, list) else [body]
        if not 1 <= len(items) <= MAX_CONVERSIONS:
            raise ApiError(422, f"body: expected one conversion or a list of 1 to {MAX_CONVERSIONS}")
        now_ms = int(time.time() * 1000)
        conversions = []
        for index, item in enumerate(items):
            try:
                conversions.append(Conversion.from_api(item, self._keyer, now_ms))
            except InvalidConversion as exc:
                CONVERSIONS.labels("api", "rejected").inc()
                where = f"body[{index}]: " if isinstance(body, list) else ""
                raise ApiError(422, f"{where}{exc}") from None
        try:
            accepted = await self._recorder.record(
                [(conversion_identity(c), orjson.dumps(c.to_event())) for c in conversions]
            )
        except (RedisError, OSError):
            raise ApiError(503, "event store unavailable, nothing was recorded; retry later") from None
        new = sum(accepted)
        CONVERSIONS.labels("api", "accepted").inc(new)
        CONVERSIONS.labels("api", "duplicate").inc(len(accepted) - new)
        return json_response({"accepted": new, "duplicates": len(accepted) - new}, 202)
