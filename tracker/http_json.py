"""JSON in and out of the admin API (always orjson), and its error shape `{"error": "..."}`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


class ApiError(Exception):
    """Raised by an endpoint to answer `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def bounded_list(value: object, most: int, name: str, expected: str) -> list[Any]:
    """`value` as a list of 1 to `most` items. Not a list, or empty: 422 (`name: expected <expected>`). Longer: 413,
    like a body over its size limit: the items may all be fine, there are just more than one request takes."""
    if not isinstance(value, list) or not value:
        raise ApiError(422, f"{name}: expected {expected}")
    if len(value) > most:
        raise ApiError(413, f"{name}: {len(value)} items, at most {most} in one request; send the rest in another")
    return value


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body; 413 past `max_bytes`, counted while reading so a lying Content-Length cannot pass."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"body larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"body larger than {max_bytes} bytes")
    return bytes(body)


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or a `+json` type such as `application/merge-patch+json`, any parameters (charset)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body parsed as JSON; 400 unless its Content-Type says JSON (a form or text/plain body is a
    client mistake, and the kind of request a browser sends cross-site without asking), 413 past `max_bytes`,
    400 when not JSON."""
    content_type = request.headers.get("content-type", "")
    if not is_json_media_type(content_type):
        got = repr(content_type[:60]) if content_type else "none"
        raise ApiError(400, f"Content-Type: expected application/json, got {got}")
    body = await read_body(request, max_bytes)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "body is not valid JSON") from None
