"""The conversion pixel `GET /px.gif` and the storefront snippet `GET /t.js`."""

from __future__ import annotations

import hashlib
import re
import time
from importlib.resources import files

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from tracker.conversion import Conversion, InvalidConversion
from tracker.events.recorder import CONFLICT, ConversionRecorder
from tracker.metrics import CONVERSIONS
from tracker.settings import Settings

# The classic 43-byte transparent 1x1 GIF.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
MAX_QUERY_BYTES = 4096
_CONFLICT_HEADERS = {"cache-control": "no-store", "x-tracker-error": "conflict"}


def rejected(reason: str, status: int = 400) -> Response:
    CONVERSIONS.labels("pixel", "rejected" if status == 400 else "unavailable").inc()
    return Response(b"", status, headers={"x-tracker-error": reason, "cache-control": "no-store"})


class Pixel:
    def __init__(self, settings: Settings, recorder: ConversionRecorder) -> None:
        self._settings = settings
        self._recorder = recorder

    async def serve(self, request: Request) -> Response:
        if request.method == "HEAD":
            # A HEAD is a look (a link checker, a prefetch), never an order: the GIF's headers (the server drops
            # the body of a HEAD), nothing read, nothing recorded.
            return gif_response()
        if len(request.scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            return rejected("field_too_long")
        params = request.query_params
        if len(params.multi_items()) != len(params):
            return rejected("repeated_parameter")
        try:
            conversion = Conversion.from_pixel(
                dict(params),
                request.cookies.get(self._settings.click_param, ""),
                click_param=self._settings.click_param,
                secret=self._settings.secret,
                signing=self._settings.pixel_signing,
                now_ms=int(time.time() * 1000),
            )
        except InvalidConversion as exc:
            return rejected(exc.reason)
        try:
            [outcome] = await self._recorder.record([conversion.record_item()])
        except (RedisError, OSError):
            return rejected("unavailable", 503)
        CONVERSIONS.labels(conversion.source, outcome).inc()
        # A conflict (the order already recorded with another amount) changes nothing; the image still loads,
        # because a storefront cannot act on an error of its tracking pixel, but the header says why.
        return gif_response(_CONFLICT_HEADERS if outcome == CONFLICT else None)


def gif_response(headers: dict[str, str] | None = None) -> Response:
    return Response(TRANSPARENT_GIF, 200, media_type="image/gif", headers=headers or {"cache-control": "no-store"})


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# A line comment: at the start of a line or after whitespace (t.js writes no '//' inside strings or regexes).
_LINE_COMMENT = re.compile(r"(?:^|\s+)//\s.*$")


def without_comments(script: str) -> str:
    """`script` with its comments, indentation and blank lines removed; its lines (and so its statements,
    whose semicolons are all written) stay as they are."""
    lines = (_LINE_COMMENT.sub("", line).strip() for line in _BLOCK_COMMENT.sub("", script).splitlines())
    return "\n".join(line for line in lines if line) + "\n"


class StorefrontScript:
    """`/t.js`, rendered once at start. `?v=<hash>` URLs are immutable; the bare URL revalidates.

    Served without its comments and indentation: the source explains itself to us, every storefront page
    downloads the result.
    """

    def __init__(self, settings: Settings) -> None:
        source = files("tracker.edge").joinpath("static/t.js").read_text()
        body = source.replace("__CLICK_PARAM__", settings.click_param).replace(
            "__MAX_AGE__", str(settings.attribution_window)
        )
        self.body = without_comments(body).encode()
        self.version = hashlib.sha256(self.body).hexdigest()[:16]

    async def serve(self, request: Request) -> Response:
        if request.query_params.get("v") == self.version:
            cache = "public, max-age=31536000, immutable"
        else:
            cache = "public, max-age=300"
        etag = f'"{self.version}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag, "cache-control": cache})
        headers = {"etag": etag, "cache-control": cache, "x-content-version": self.version}
        return Response(self.body, media_type="application/javascript; charset=utf-8", headers=headers)
