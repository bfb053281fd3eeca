"""The admin API seen from the command line: one HTTP client, errors turned into one line each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

TIMEOUT = httpx.Timeout(120.0, connect=5.0)


class ClientError(RuntimeError):
    """What went wrong, in one line a person can act on; `status` and `detail` when the API answered an error."""

    def __init__(self, message: str, status: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or message


class AdminApi:
    def __init__(self, base_url: str, api_key: str, transport: httpx.BaseTransport | None = None) -> None:
        if not api_key:
            raise ClientError("TRACKER_API_KEY: not set (`tracker dev` prints the key it uses)")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {api_key}", "user-agent": "tracker-cli"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return orjson.loads(self._send("GET", path, params=params).content)

    def get_bytes(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        return self._send("GET", path, params=params).content

    def post_json(self, path: str, body: Any) -> Any:
        response = self._send("POST", path, content=orjson.dumps(body), headers={"content-type": "application/json"})
        return orjson.loads(response.content)

    def post_csv(self, path: str, body: bytes) -> Any:
        response = self._send("POST", path, content=body, headers={"content-type": "text/csv; charset=utf-8"})
        return orjson.loads(response.content)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientError(f"cannot reach the admin API at {self.base_url} (is `tracker admin` or `tracker dev` "
                              "running? TRACKER_ADMIN_URL says where)") from None
        except httpx.TimeoutException:
            raise ClientError(f"the admin API at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"talking to the admin API at {self.base_url} failed: {exc}") from None
        if response.status_code == 401:
            raise ClientError("the admin API refused TRACKER_API_KEY (401)")
        if response.status_code >= 400:
            detail = _error_text(response)
            raise ClientError(f"{method} {path}: {response.status_code} {detail}", response.status_code, detail)
        return response


def _error_text(response: httpx.Response) -> str:
    try:
        error = orjson.loads(response.content)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return response.reason_phrase
    return str(error).replace("\n", " ")
