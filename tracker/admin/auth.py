"""Bearer API keys for the admin API, compared in constant time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.api_keys import key_matches
from tracker.http_json import error_response


class BearerAuth:
    """ASGI middleware: requests under `prefix` need `Authorization: Bearer <key>`."""

    def __init__(self, app: Any, keys: Sequence[str], prefix: str = "/v1/") -> None:
        self.app = app
        self.keys = tuple(keys)
        self.prefix = prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and not self.authorized(scope):
            response = error_response(401, "missing or invalid API key (Authorization: Bearer <key>)")
            response.headers["www-authenticate"] = 'Bearer realm="tracker"'
            return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def authorized(self, scope: Any) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and bool(token.strip()) and key_matches(token.strip(), self.keys)
        return False
