"""docs/api.md, the admin app's `/openapi.json` and the apps' routes agree on every endpoint and status code.

The convention the reference follows (so that these tests can read it): in a `##` section whose title begins
with "Admin API" or "Edge", every `###` heading is one endpoint, `### METHOD /path` or `### GET|HEAD /path`, and
its statuses are the first column of a table whose header begins with `status`. HEAD is implied by GET on the
admin app (Starlette answers HEAD for every GET route), so the admin comparison leaves HEAD out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import markdown
from tests.support.servers import serve_in_thread
from tests.support.settings import HOOK_SECRETS, make_settings
from tracker.admin.app import Admin
from tracker.edge.app import Edge

ENDPOINT = re.compile(r"^### (?P<methods>[A-Z]+(?:\|[A-Z]+)*) (?P<path>/\S*)$")
KINDS = {"Admin API": "admin", "Edge": "edge"}
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The redirect is the edge's raw ASGI path, answered before Starlette's routes are consulted.
EDGE_RAW_ROUTES = {"/{code}": frozenset({"GET", "HEAD"})}

Operations = dict[tuple[str, str], frozenset[int]]


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "admin" or "edge"
    methods: frozenset[str]
    path: str
    statuses: frozenset[int]
    line: int


def documented_endpoints() -> list[Endpoint]:
    body = markdown.lines(markdown.read("api.md"))
    found: list[Endpoint] = []
    for section, content in markdown.sections(body, 2):
        title = markdown.heading_title(section)
        kind = next((kind for prefix, kind in KINDS.items() if title.startswith(prefix)), None)
        if kind is None:
            continue
        for heading, lines in markdown.sections(content, 3):
            match = ENDPOINT.match(heading.text)
            assert match, f"docs/api.md:{heading.number}: {heading.text!r} is not `### METHOD /path`"
            methods = frozenset(match.group("methods").split("|"))
            assert methods <= HTTP_METHODS, f"docs/api.md:{heading.number}: unknown method in {heading.text!r}"
            statuses = frozenset(
                int(row["status"]) for table in markdown.tables(lines) if table and next(iter(table[0])) == "status"
                for row in table
            )
            found.append(Endpoint(kind, methods, match.group("path"), statuses, heading.number))
    return found


def documented_admin_operations() -> Operations:
    operations: Operations = {}
    for endpoint in documented_endpoints():
        if endpoint.kind != "admin":
            continue
        for method in endpoint.methods - {"HEAD"}:
            assert (method, endpoint.path) not in operations, f"docs/api.md:{endpoint.line}: documented twice"
            operations[(method, endpoint.path)] = endpoint.statuses
    return operations


def openapi_operations(document: dict[str, Any]) -> Operations:
    return {
        (method.upper(), path): frozenset(int(status) for status in operation["responses"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method.upper() in HTTP_METHODS
    }


@pytest.fixture(scope="module")
def openapi_document(redis_server) -> Iterator[dict[str, Any]]:
    """The document exactly as the running admin app serves it."""
    with serve_in_thread(Admin(make_settings(redis_server.url)).app) as base:
        reply = httpx.get(f"{base}/openapi.json")
        assert reply.status_code == 200
        yield reply.json()


def test_every_endpoint_heading_follows_the_convention_and_lists_its_statuses() -> None:
    endpoints = documented_endpoints()
    assert {e.kind for e in endpoints} == {"admin", "edge"}
    for endpoint in endpoints:
        assert endpoint.statuses, f"docs/api.md:{endpoint.line}: no `| status | ... |` table"
        assert all(100 <= status <= 599 for status in endpoint.statuses)
    seen: set[tuple[str, str, str]] = set()
    for endpoint in endpoints:
        for method in endpoint.methods:
            key = (endpoint.kind, method, endpoint.path)
            assert key not in seen, f"docs/api.md:{endpoint.line}: {method} {endpoint.path} documented twice"
            seen.add(key)


def test_the_reference_documents_exactly_the_operations_of_openapi_json(openapi_document) -> None:
    documented = set(documented_admin_operations())
    described = set(openapi_operations(openapi_document))
    assert sorted(described - documented) == [], "in /openapi.json, missing from docs/api.md"
    assert sorted(documented - described) == [], "in docs/api.md, missing from /openapi.json"


def test_each_admin_endpoint_lists_the_status_codes_of_openapi_json(openapi_document) -> None:
    documented = documented_admin_operations()
    disagreements = {
        f"{method} {path}": {"docs/api.md": sorted(documented[(method, path)]), "/openapi.json": sorted(statuses)}
        for (method, path), statuses in openapi_operations(openapi_document).items()
        if (method, path) in documented and documented[(method, path)] != statuses
    }
    assert disagreements == {}


def test_openapi_json_describes_every_route_of_the_admin_app(openapi_document, redis_server) -> None:
    app = Admin(make_settings(redis_server.url)).app
    routed = {(method, route.path) for route in app.routes for method in (route.methods or ()) if method != "HEAD"}
    assert sorted(routed ^ set(openapi_operations(openapi_document))) == []


def test_the_reference_documents_every_route_of_the_edge_and_no_other(redis_server) -> None:
    routes: dict[str, frozenset[str]] = dict(EDGE_RAW_ROUTES)
    for route in Edge(make_settings(redis_server.url, **HOOK_SECRETS)).app.routes:
        routes[route.path] = routes.get(route.path, frozenset()) | frozenset(route.methods or ())
    documented: dict[str, frozenset[str]] = {}
    for endpoint in documented_endpoints():
        if endpoint.kind == "edge":
            documented[endpoint.path] = documented.get(endpoint.path, frozenset()) | endpoint.methods
    assert {path: sorted(methods) for path, methods in documented.items()} == {
        path: sorted(methods) for path, methods in routes.items()
    }
