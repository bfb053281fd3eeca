"""The admin app as a whole: what any path answers, whatever endpoint it is."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CONTRACT_STATUSES = {400, 401, 404, 409, 413, 422, 503}


@pytest.fixture
def admin(redis_url: str) -> Iterator[httpx.Client]:
    app = Admin(make_settings(redis_url)).app
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/links", "GET, HEAD, POST"),
        ("GET", "/v1/messages/compose", "POST"),
        ("POST", "/v1/links/abcdefg", "DELETE, GET, HEAD, PATCH"),
        ("GET", "/v1/conversions", "POST"),
        ("POST", "/v1/reports/campaigns", "GET, HEAD"),
        ("DELETE", "/healthz", "GET, HEAD"),
    ],
)
def test_a_method_a_path_does_not_answer_is_a_404_naming_the_methods_it_does(admin, method, path, allowed):
    reply = admin.request(method, path, json={})
    assert reply.status_code == 404
    assert reply.json() == {"error": f"{method} {path}: no such endpoint; this path answers {allowed}"}
    assert reply.headers["allow"] == allowed


def test_every_error_the_app_itself_answers_is_a_contract_status_in_the_error_shape(admin):
    replies = [admin.get("/v1/nothing"), admin.get("/nothing"), admin.get("/v1/links/"), admin.put("/v1/messages"),
               admin.request("PATCH", "/v1/conversions/import"), httpx.get(admin.base_url.join("/v1/links"))]
    assert [reply.status_code for reply in replies] == [404, 404, 404, 404, 404, 401]
    assert all(reply.status_code in CONTRACT_STATUSES for reply in replies)
    assert all(list(reply.json()) == ["error"] and reply.json()["error"] for reply in replies)
