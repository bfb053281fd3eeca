"""The admin API's OpenAPI 3 document, served at `GET /openapi.json`.

Written by hand rather than generated, so it states the contract (field limits, error shapes, status
codes) and tools like schemathesis can hold the code to it. docs/api.md describes the same operations for
people; tests/docs/test_api_reference.py keeps the two and the app's routes in agreement.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.admin.messages_api import MAX_MESSAGES
from tracker.admin.openapi_schemas import (
    CODE_PARAMETER,
    CONVERSION,
    DASHBOARD_SECURITY,
    DOMAIN,
    ERROR,
    HEALTH,
    LINK,
    LINK_FIELDS,
    LINK_PARAMETERS,
    LIST_PARAMETERS,
    MESSAGE,
    READINESS,
    RECONCILED_FIGURES,
    RECONCILED_ROW,
    RECORDED,
    REPORT,
    VANITY_CODE,
    errors,
    json_body,
    json_error,
    json_reply,
    page,
    query,
    redirect,
)
from tracker.dashboard.sessions import SESSION_COOKIE
from tracker.dashboard.views import FILTERS
from tracker.http_json import json_response
from tracker.reports.query import PARAMETERS
from tracker.reports.reconciliation import PARAMETERS as RECONCILIATION_PARAMETERS

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "SMS click tracker admin API", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic", "description": "any user name, an API key as password"},
            "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        },
        "schemas": {"Error": ERROR, "Link": LINK, "Conversion": CONVERSION, "Report": REPORT, "Message": MESSAGE},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/links": {
            "post": {
                "summary": "Create a short link",
                "requestBody": json_body({
                    "type": "object", "additionalProperties": False, "required": ["destination"],
                    "properties": {**LINK_FIELDS, "recipient": {"type": "string", "maxLength": 254},
                                   "code": VANITY_CODE, "domain": DOMAIN},
                }),
                "responses": {"201": json_reply("created", {"$ref": "#/components/schemas/Link"}),
                              **errors(400, 401, 409, 413, 422, 503)},
            },
            "get": {
                "summary": "List links, newest first, filtered; follow next_cursor for the next page",
                "parameters": LIST_PARAMETERS,
                "responses": {
                    "200": json_reply("a page of links", {
                        "type": "object", "required": ["links", "next_cursor"],
                        "properties": {"links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
                                       "next_cursor": {"type": ["string", "null"]}},
                    }),
                    **errors(400, 401, 503),
                },
            },
        },
        "/v1/links/batch": {
            "post": {
                "summary": "Create one link per recipient, answered in input order",
                "requestBody": json_body({
                    "type": "object", "additionalProperties": False, "required": ["template", "recipients"],
                    "properties": {
                        "template": {"type": "object", "additionalProperties": False, "required": ["destination"],
                                     "properties": {**LINK_FIELDS, "domain": DOMAIN}},
                        "recipients": {"type": "array", "minItems": 1, "maxItems": 10000,
                                       "items": {"type": "string", "maxLength": 254}},
                    },
                }),
                "responses": {
                    "201": json_reply("created", {
                        "type": "object", "required": ["links"],
                        "properties": {"links": {"type": "array", "items": {
                            "type": "object", "required": ["recipient_ref", "code", "short_url"],
                            "properties": {"recipient_ref": {"type": "string"}, "code": {"type": "string"},
                                           "short_url": {"type": "string"}}}}},
                    }),
                    **errors(400, 401, 413, 422, 503),
                },
            }
        },
        "/v1/links/{code}": {
            "get": {
                "summary": "Read a link",
                "parameters": LINK_PARAMETERS,
                "responses": {"200": json_reply("the link", {"$ref": "#/components/schemas/Link"}),
                              **errors(400, 401, 404, 503)},
            },
            "delete": {
                "summary": "Delete a link; edges answer 404 within 1 s; its clicks and credits stay in the reports",
                "parameters": LINK_PARAMETERS,
                "responses": {"204": {"description": "deleted"}, **errors(400, 401, 404, 503)},
            },
            "patch": {
                "summary": "Disable, change expiry or destination; edges obey within 1 s",
                "parameters": LINK_PARAMETERS,
                "requestBody": json_body({
                    "type": "object", "additionalProperties": False, "minProperties": 1,
                    "properties": {"disabled": {"type": "boolean"}, "expires_at": LINK_FIELDS["expires_at"],
                                   "destination": LINK_FIELDS["destination"]},
                }),
                "responses": {"200": json_reply("the changed link", {"$ref": "#/components/schemas/Link"}),
                              **errors(400, 401, 404, 413, 422, 503)},
            },
        },
        "/v1/links/{code}/qr": {
            "get": {
                "summary": "The QR code of the link's short_url",
                "parameters": [*LINK_PARAMETERS, {"name": "format", "in": "query", "required": False,
                                                  "schema": {"type": "string", "enum": ["svg", "png"],
                                                             "default": "svg"}}],
                "responses": {
                    "200": {"description": "the QR code", "content": {"image/svg+xml": {"schema": {"type": "string"}},
                                                                      "image/png": {"schema": {"type": "string",
                                                                                    "format": "binary"}}}},
                    **errors(400, 401, 404, 503),
                },
            }
        },
        "/v1/conversions": {
            "post": {
                "summary": "Record conversions, once per (order_id, type); another value or currency is a conflict",
                "requestBody": json_body({"oneOf": [
                    {"$ref": "#/components/schemas/Conversion"},
                    {"type": "array", "minItems": 1, "maxItems": 1000,
                     "items": {"$ref": "#/components/schemas/Conversion"}},
                ]}),
                "responses": {
                    "202": json_reply("accepted", {
                        "type": "object", "required": ["accepted", "duplicates", "conflicts"], "properties": RECORDED,
                    }),
                    **errors(400, 401, 409, 413, 422, 503),
                },
            }
        },
        "/v1/conversions/import": {
            "post": {
                "summary": "Import offline and point-of-sale conversions from CSV: a header row of the conversion "
                           "field names, one conversion a line; bad lines are listed, good lines kept; idempotent",
                "parameters": [{"name": "line_offset", "in": "query", "required": False,
                                "description": "added to every line number answered (for a file sent in parts)",
                                "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}}],
                "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": {
                    "202": json_reply("imported", {
                        "type": "object", "required": ["accepted", "duplicates", "conflicts", "errors"],
                        "properties": {**RECORDED, "errors": {"type": "array", "items": {
                            "type": "object", "required": ["line", "error"],
                            "properties": {"line": {"type": "integer"}, "error": {"type": "string"}}}}},
                    }),
                    **errors(400, 401, 413, 422, 503),
                },
            }
        },
        "/v1/messages": {
            "post": {
                "summary": "Record message events (sent, delivered, undelivered, failed, read), once per "
                           "(message_id, status)",
                "requestBody": json_body({"oneOf": [
                    {"$ref": "#/components/schemas/Message"},
                    {"type": "array", "minItems": 1, "maxItems": MAX_MESSAGES,
                     "items": {"$ref": "#/components/schemas/Message"}},
                ]}),
                "responses": {
                    "202": json_reply("accepted", {
                        "type": "object", "required": ["accepted", "duplicates"],
                        "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
                    }),
                    **errors(400, 401, 413, 422, 503),
                },
            }
        },
        "/v1/reports/campaigns": {
            "get": {
                "summary": "Messages, clicks, orders and revenue per group, with attribution computed at query time",
                "parameters": query(*PARAMETERS),
                "responses": {
                    "200": {
                        "description": "the report",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Report"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(400, 401, 503),
                },
            }
        },
        "/v1/messages/compose": {
            "post": {
                "summary": "Every http(s) URL of an SMS text becomes a tracked link per recipient; each text priced",
                "requestBody": json_body({
                    "type": "object", "additionalProperties": False, "required": ["text", "recipients"],
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": 1600},
                        "template": {"type": "object", "additionalProperties": False,
                                     "properties": {k: v for k, v in {**LINK_FIELDS, "domain": DOMAIN}.items()
                                                    if k != "destination"}},
                        "recipients": {"type": "array", "minItems": 1, "maxItems": 10000,
                                       "items": {"type": "string", "maxLength": 254}},
                    },
                }),
                "responses": {
                    "201": json_reply("one text per recipient, in input order", {
                        "type": "object", "required": ["messages", "warnings"],
                        "properties": {
                            "messages": {"type": "array", "items": {
                                "type": "object",
                                "required": ["recipient_ref", "text", "codes", "encoding", "segments", "characters"],
                                "properties": {
                                    "recipient_ref": {"type": "string"}, "text": {"type": "string"},
                                    "codes": {"type": "array", "items": {"type": "string"}},
                                    "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
                                    "segments": {"type": "integer"},
                                    "characters": {"type": "integer", "description": "GSM-7 septets (extension "
                                                   "characters count 2) or UTF-16 code units"},
                                }}},
                            "warnings": {"type": "array", "items": {
                                "type": "object", "required": ["character", "codepoint", "name", "replacement"],
                                "properties": {"character": {"type": "string"}, "codepoint": {"type": "string"},
                                               "name": {"type": "string"},
                                               "replacement": {"type": ["string", "null"]},
                                               "count": {"type": "integer"}}}},
                        },
                    }),
                    **errors(400, 401, 413, 422, 503),
                },
            }
        },
        "/v1/reports/bots": {
            "get": {
                "summary": "Bot clicks (link previews, scanners) of a period by bot_reason",
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}}
                    for name in ("from", "to", "exclude_tags", "format")
                ],
                "responses": {
                    "200": {
                        "description": "the bots report",
                        "content": {
                            "application/json": {"schema": {
                                "type": "object", "required": ["rows", "total_clicks", "bot_clicks"],
                                "properties": {
                                    "total_clicks": {"type": "integer"}, "bot_clicks": {"type": "integer"},
                                    "rows": {"type": "array", "items": {
                                        "type": "object", "required": ["bot_reason", "clicks", "links", "share"]}},
                                },
                            }},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(400, 401, 503),
                },
            }
        },
        "/v1/reports/reconciliation": {
            "get": {
                "summary": "Per day and source of the orders (pixel, api, js, shopify, woocommerce, import): the "
                           "orders and revenue received against those attributed to the links, and refunds",
                "parameters": query(*RECONCILIATION_PARAMETERS),
                "responses": {
                    "200": {
                        "description": "the reconciliation",
                        "content": {
                            "application/json": {"schema": {
                                "type": "object", "required": ["from", "to", "currency", "rows", "sources", "total"],
                                "properties": {
                                    "from": {"type": "string", "format": "date-time"},
                                    "to": {"type": "string", "format": "date-time", "description": "exclusive"},
                                    "currency": {"type": "string"},
                                    "window": {"type": ["integer", "null"]},
                                    "view_window": {"type": ["integer", "null"]},
                                    "exclude_tags": {"type": "array", "items": {"type": "string"}},
                                    "rows": {"type": "array", "items": RECONCILED_ROW},
                                    "sources": {"type": "array", "items": RECONCILED_ROW},
                                    "total": RECONCILED_FIGURES,
                                },
                            }},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(400, 401, 503),
                },
            }
        },
        "/reports": {
            "get": {
                "summary": "The HTML dashboard",
                "security": DASHBOARD_SECURITY,
                "parameters": query(*FILTERS),
                "responses": {
                    "200": page("the dashboard"),
                    "303": redirect("not logged in: to the login form"),
                    "400": page("the filters do not make a report; the page says why"),
                    "401": page("a wrong key sent as a Bearer token or with HTTP Basic: the login form"),
                    "503": page("ClickHouse is not connected or does not answer; the page says so"),
                },
            }
        },
        "/reports/login": {
            "get": {
                "summary": "The login form",
                "security": [],
                "parameters": query("next"),
                "responses": {"200": page("the form"), "303": redirect("already logged in: to next")},
            },
            "post": {
                "summary": "Log in with an admin API key; sets the session cookie",
                "security": [],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "properties": {"key": {"type": "string"}, "next": {"type": "string"}},
                }}}},
                "responses": {
                    "303": redirect("logged in: to next"),
                    **json_error(400, "too many form fields"),
                    "401": page("the key is not valid: the form again"),
                    **json_error(413, "body over 4096 bytes"),
                },
            },
        },
        "/reports/logout": {
            "post": {"summary": "Clear the session cookie", "security": [],
                     "responses": {"303": redirect("to the login form")}},
        },
        "/reports/links": {
            "get": {
                "summary": "The links page: search, each link's clicks and revenue, QR codes, disable and delete; bots",
                "security": DASHBOARD_SECURITY,
                "parameters": query("q", "campaign", "from", "to", "cursor"),
                "responses": {
                    "200": page("the page"),
                    "303": redirect("not logged in: to the login form"),
                    "400": page("a parameter is refused; the page says why"),
                    "401": page("a wrong key sent as a Bearer token or with HTTP Basic", "text/plain"),
                    **json_error(503, "Redis does not answer"),
                },
            }
        },
        "/reports/links/{code}/qr.svg": {
            "get": {
                "summary": "A link's QR code for the links page",
                "security": DASHBOARD_SECURITY,
                "parameters": [CODE_PARAMETER, *query("domain")],
                "responses": {
                    "200": page("the QR code", "image/svg+xml"),
                    "303": redirect("not logged in: to the login form"),
                    "401": page("a wrong key sent as a Bearer token or with HTTP Basic", "text/plain"),
                    "404": page("no such link", "text/plain"),
                    **json_error(503, "Redis does not answer"),
                },
            }
        },
        "/reports/links/{code}/{action}": {
            "post": {
                "summary": "The links page's buttons: disable, enable or delete a link, then back to the page",
                "security": DASHBOARD_SECURITY,
                "parameters": [CODE_PARAMETER,
                               {"name": "action", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": ["disable", "enable", "delete"]}},
                               *query("domain", "back")],
                "responses": {
                    "303": redirect("done: back to the page (or not logged in: to the login form)"),
                    "400": page("the form was posted from another site", "text/plain"),
                    "401": page("a wrong key sent as a Bearer token or with HTTP Basic", "text/plain"),
                    "404": page("no such link or action", "text/plain"),
                    **json_error(503, "Redis does not answer"),
                },
            }
        },
        "/reports/export.csv": {
            "get": {
                "summary": "The CSV of GET /v1/reports/campaigns for the same parameters, for the dashboard",
                "security": DASHBOARD_SECURITY,
                "parameters": query(*PARAMETERS),
                "responses": {
                    "200": page("the report as CSV", "text/csv"),
                    **json_error(400, "a parameter is refused"),
                    "401": page("not logged in", "text/plain"),
                    **json_error(503, "ClickHouse is not connected or does not answer"),
                },
            }
        },
        "/reports/dashboard.css": {
            "get": {"summary": "The dashboard's stylesheet", "security": [], "parameters": query("v"),
                    "responses": {"200": page("the stylesheet", "text/css")}},
        },
        "/healthz": {"get": {"summary": "The process is up", "security": [],
                             "responses": {"200": json_reply("up", HEALTH)}}},
        "/readyz": {"get": {"summary": "Redis (and ClickHouse, when connected) answer", "security": [],
                            "responses": {"200": json_reply("ready", READINESS),
                                          "503": json_reply("a dependency does not answer", READINESS)}}},
        "/metrics": {"get": {"summary": "Prometheus metrics of this process", "security": [],
                             "responses": {"200": page("the text exposition format", "text/plain")}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": json_reply("the OpenAPI document", {"type": "object"})}}},
    },
}


async def openapi_endpoint(request: Request) -> Response:
    return json_response(DOCUMENT)


def openapi_routes() -> list[Route]:
    return [Route("/openapi.json", openapi_endpoint, methods=["GET"])]
