"""`POST /v1/conversions` (one conversion or a list) and `POST /v1/conversions/import` (a CSV file).

Both record each conversion once per (order_id, type): the same one again is a duplicate, the same
(order_id, type) with another value or currency a conflict; neither changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.recipient import RecipientKeyer
from tracker.admin.conversions_csv import InvalidCsv, TooManyRows, read_csv
from tracker.conversion import API_FIELDS, Conversion, InvalidConversion
from tracker.events.recorder import ACCEPTED, CONFLICT, ConversionRecorder, Outcome
from tracker.http_json import ApiError, bounded_list, json_response, read_body, read_json
from tracker.metrics import CONVERSIONS
from tracker.settings import Settings

MAX_CONVERSIONS = 1000
MAX_BODY = 1024 * 1024
MAX_IMPORT_BODY = 16 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
MAX_LINE_OFFSET = 10**9
# Spreadsheets and curl label CSV in several ways; anything else (JSON above all) is a mistake worth naming.
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
_UNAVAILABLE = "event store unavailable, nothing was recorded; retry later"


class ConversionsApi:
    def __init__(self, settings: Settings, recorder: ConversionRecorder) -> None:
        self._keyer = RecipientKeyer(settings.secret)
        self._recorder = recorder

    def routes(self) -> list[Route]:
        return [
            Route("/v1/conversions", self.create, methods=["POST"]),
            Route("/v1/conversions/import", self.import_csv, methods=["POST"]),
        ]

    async def create(self, request: Request) -> Response:
        body = await read_json(request, MAX_BODY)
        items = bounded_list(body if isinstance(body, list) else [body], MAX_CONVERSIONS, "body",
                             f"one conversion or a list of 1 to {MAX_CONVERSIONS}")
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
            outcomes = await self._record(conversions, "api")
        except (RedisError, OSError):
            raise ApiError(503, _UNAVAILABLE) from None
        conflicts = [
            {"index": index, "order_id": c.order_id, "type": c.type}
            for index, (c, outcome) in enumerate(zip(conversions, outcomes, strict=True))
            if outcome == CONFLICT
        ]
        if conflicts and not isinstance(body, list):
            raise ApiError(409, "conflict: this order_id and type were recorded before with another value or "
                                "currency; nothing was changed")
        return json_response({**_counts(outcomes), "conflicts": conflicts}, 202)

    async def import_csv(self, request: Request) -> Response:
        """Offline and point-of-sale orders: a header row of the API's field names, then one conversion a line.

        Good lines are recorded, bad ones listed by line number (plus `line_offset`, for a client that sends a
        big file in parts, each with the header). Importing the same file again records nothing new.
        """
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type not in CSV_TYPES:
            raise ApiError(400, "Content-Type: expected text/csv (a header row of field names, then one line each)")
        offset = _line_offset(request.query_params.get("line_offset", "0"))
        body = await read_body(request, MAX_IMPORT_BODY)
        try:
            rows, unreadable = read_csv(body, API_FIELDS, MAX_IMPORT_ROWS)
        except InvalidCsv as exc:
            raise ApiError(422, str(exc)) from None
        except TooManyRows as exc:
            raise ApiError(413, str(exc)) from None
        now_ms = int(time.time() * 1000)
        errors = [(error.line, error.error) for error in unreadable]
        lines: list[int] = []
        conversions: list[Conversion] = []
        for row in rows:
            try:
                conversions.append(Conversion.from_api(_csv_fields(row.fields), self._keyer, now_ms, source="import"))
                lines.append(row.line)
            except InvalidConversion as exc:
                errors.append((row.line, str(exc)))
        CONVERSIONS.labels("import", "rejected").inc(len(errors))
        outcomes: list[Outcome] = []
        try:
            for start in range(0, len(conversions), MAX_CONVERSIONS):
                outcomes += await self._record(conversions[start:start + MAX_CONVERSIONS], "import")
        except (RedisError, OSError):
            done = f"the lines before line {lines[len(outcomes)] + offset} were recorded" if outcomes else \
                "nothing was recorded"
            raise ApiError(503, f"event store unavailable, {done}; retry later: send the file again (an import is "
                                "idempotent)") from None
        conflicts = [
            {"line": line + offset, "order_id": c.order_id, "type": c.type}
            for line, c, outcome in zip(lines, conversions, outcomes, strict=True)
            if outcome == CONFLICT
        ]
        return json_response({
            **_counts(outcomes),
            "conflicts": conflicts,
            "errors": [{"line": line + offset, "error": error} for line, error in sorted(errors)],
        }, 202)

    async def _record(self, conversions: Sequence[Conversion], source: str) -> list[Outcome]:
        outcomes = await self._recorder.record([c.record_item() for c in conversions])
        for outcome in set(outcomes):
            CONVERSIONS.labels(source, outcome).inc(outcomes.count(outcome))
        return outcomes


def _counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    accepted = outcomes.count(ACCEPTED)
    return {"accepted": accepted, "duplicates": len(outcomes) - accepted - outcomes.count(CONFLICT)}


def _csv_fields(fields: dict[str, str]) -> dict[str, object]:
    """A CSV row as the API would get it: cells are text, so epoch seconds arrive as digits."""
    occurred_at = fields.get("occurred_at", "")
    if occurred_at.isdigit():
        return {**fields, "occurred_at": int(occurred_at)}
    return dict(fields)


def _line_offset(raw: str) -> int:
    if not raw.isdigit() or int(raw) > MAX_LINE_OFFSET:
        raise ApiError(422, f"line_offset: expected a whole number from 0 to {MAX_LINE_OFFSET}")
    return int(raw)
