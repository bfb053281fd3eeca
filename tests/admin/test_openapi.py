"""The admin API holds to its own OpenAPI document: schemathesis generates requests from it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.clickhouse import fresh_database
from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

AUTH = {"Authorization": f"Bearer {API_KEY}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def admin_url(redis_server, clickhouse_url) -> Iterator[str]:
    """An admin with Redis and ClickHouse, so the reports and the dashboard answer as they do in production."""
    with fresh_database(clickhouse_url) as clickhouse, \
            serve_in_thread(Admin(make_settings(redis_server.url), clickhouse=clickhouse).app) as base:
        yield base


def test_document_is_served_without_auth_and_lists_every_admin_endpoint(admin_url):
    document = httpx.get(f"{admin_url}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {"/v1/links", "/v1/links/batch", "/v1/links/{code}", "/v1/conversions",
                                      "/v1/reports/campaigns", "/v1/links/{code}/qr", "/v1/messages/compose",
                                      "/v1/reports/bots", "/v1/conversions/import", "/v1/messages",
                                      "/v1/reports/reconciliation"}


def test_generated_requests_never_get_a_server_error_and_answers_match_the_document(admin_url):
    schema = schemathesis.openapi.from_url(f"{admin_url}/openapi.json")
    failures = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case) -> None:
            response = case.call(base_url=admin_url, headers=AUTH, allow_redirects=False)
            # Every answer is documented and no request, however odd, is a server error. "Valid by the
            # schema but refused" is fine: the document cannot express every rule (control characters, ...).
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report all
            failures.append(f"{op.method.upper()} {op.path}: {exc}")
    assert failures == []
