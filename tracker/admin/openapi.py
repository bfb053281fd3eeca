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
from tracker.conversion import CONVERSION_TYPES, SOURCES
from tracker.dashboard.sessions import SESSION_COOKIE
from tracker.dashboard.views import FILTERS
from tracker.http_json import json_response
from tracker.message import STATUSES
from tracker.reports.campaign import METRICS
from tracker.reports.query import PARAMETERS
from tracker.reports.reconciliation import PARAMETERS as RECONCILIATION_PARAMETERS

UTM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {key: {"type": "string", "maxLength": 200} for key in ("source", "medium", "campaign", "content",
                                                                          "term")},
}
LINK_FIELDS: dict[str, Any] = {
    "destination": {"type": "string", "format": "uri", "maxLength": 2048, "description": "absolute http(s) URL"},
    "utm": UTM,
    "channel": {"type": "string", "maxLength": 200},
    "campaign": {"type": "string", "maxLength": 200},
    "message": {"type": "string", "maxLength": 200},
    "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 64}},
    "expires_at": {"type": ["string", "null"], "format": "date-time"},
}
DOMAIN = {"type": "string", "maxLength": 253, "description": "one of the short domains; default: the host of "
                                                          "TRACKER_SHORT_BASE"}
VANITY_CODE = {"type": "string", "pattern": "^[A-Za-z0-9_-]{3,64}$", "description": "a vanity code; 409 if taken "
               "on that domain, 422 if it is in the range of generated codes"}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
LINK = {
    "type": "object",
    "required": ["code", "short_url", "destination", "tagged_url", "channel", "campaign", "message", "tags",
                 "recipient_ref", "expires_at", "created_at", "disabled"],
    "properties": {
        "code": {"type": "string"},
        "domain": {"type": "string"},
        "short_url": {"type": "string"},
        "destination": {"type": "string"},
        "tagged_url": {"type": "string"},
        "utm": UTM,
        "channel": {"type": "string"},
        "campaign": {"type": "string"},
        "message": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "recipient_ref": {"type": ["string", "null"]},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "disabled": {"type": "boolean"},
    },
}
CONVERSION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["order_id"],
    "properties": {
        "order_id": {"type": ["string", "integer"], "maxLength": 128},
        "type": {"type": "string", "enum": list(CONVERSION_TYPES)},
        "value": {"type": ["string", "number"], "description": "decimal >= 0, at most 4 places"},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217"},
        "click_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "recipient": {"type": "string", "maxLength": 254, "description": "phone (+E.164) or e-mail; never stored"},
        "occurred_at": {"type": ["string", "number"], "description": "ISO 8601 date-time or epoch seconds"},
        "subscription_id": {"type": ["string", "integer"], "maxLength": 128,
                            "description": "required for a subscription (which it starts) and a renewal (which "
                                           "subscription it renews)"},
    },
}
NUMBER_OR_NULL = {"type": ["number", "null"]}
REPORT = {
    "type": "object",
    "required": ["from", "to", "group_by", "model", "window", "view_window", "currency", "exclude_tags", "formula",
                 "unattributed_orders", "unattributed_revenue", "rows"],
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time", "description": "exclusive"},
        "group_by": {"type": "array", "items": {"type": "string"}},
        "model": {"type": "string"},
        "window": {"type": ["integer", "null"], "description": "seconds; null: the per-channel windows"},
        "view_window": {"type": ["integer", "null"],
                        "description": "seconds; null: the per-channel view windows; 0: view-through off"},
        "currency": {"type": "string"},
        "exclude_tags": {"type": "array", "items": {"type": "string"}},
        "formula": {"type": "string", "description": "one sentence saying how a sale was credited"},
    "unattributed_orders": {"type": "integer"},
    "unattributed_revenue": {"type": "number"},
        "rows": {"type": "array", "items": {
            "type": "object", "required": list(METRICS),
            "properties": {name: NUMBER_OR_NULL for name in METRICS},
            "additionalProperties": {"type": "string", "description": "the group keys"},
        }},
    },
}
CONFLICTS = {
    "type": "array",
    "description": "the items whose (order_id, type) was recorded before with another value or currency; "
                   "nothing of them was changed",
    "items": {"type": "object", "required": ["order_id", "type"], "properties": {
        "index": {"type": "integer", "description": "position in the list sent"},
        "line": {"type": "integer", "description": "line of the CSV (import)"},
        "order_id": {"type": "string"}, "type": {"type": "string"},
    }},
}
RECORDED = {
    "accepted": {"type": "integer", "description": "newly recorded"},
    "duplicates": {"type": "integer", "description": "recorded before with the same value and currency"},
    "conflicts": CONFLICTS,
}
MESSAGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["message_id", "status"],
    "properties": {
        "message_id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "the provider's id"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "recipient": {"type": "string", "maxLength": 254, "description": "phone (+E.164) or e-mail; never stored"},
        "code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                 "description": "the short link the text carried: the defaults of the labels and the recipient"},
        "channel": {"type": "string", "maxLength": 200},
        "campaign": {"type": "string", "maxLength": 200},
        "message": {"type": "string", "maxLength": 200},
        "tags": LINK_FIELDS["tags"],
        "provider": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"},
        "occurred_at": {"type": ["string", "number"], "description": "ISO 8601 date-time or epoch seconds"},
        "error_code": {"type": ["string", "integer"], "description": "the provider's error code of a failure"},
    },
}


def errors(*statuses: int) -> dict[str, Any]:
    return {key: value for status in statuses for key, value in json_error(status, "error").items()}


def json_error(status: int, description: str) -> dict[str, Any]:
    return {str(status): {"description": description,
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}


def page(description: str, media_type: str = "text/html") -> dict[str, Any]:
    """An answer that is a page or a file rather than JSON."""
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


RECONCILED_REQUIRED = ["orders", "revenue", "attributed_orders", "attributed_revenue", "unattributed_orders",
                       "unattributed_revenue", "attributed_share", "refunds"]
RECONCILED_PROPERTIES: dict[str, Any] = {
    "orders": {"type": "integer", "description": "purchases received (each order once, at its first row)"},
    "revenue": {"type": "number"},
    "attributed_orders": {"type": "integer", "description": "of those, credited to a click or a message"},
    "attributed_revenue": {"type": "number"},
    "unattributed_orders": {"type": "integer"},
    "unattributed_revenue": {"type": "number"},
    "attributed_share": {"type": ["number", "null"], "description": "attributed_revenue / revenue"},
    "refunds": {"type": "number", "description": "refunds received that day (each refund once)"},
}
RECONCILED_FIGURES = {"type": "object", "required": RECONCILED_REQUIRED, "properties": RECONCILED_PROPERTIES}
RECONCILED_ROW = {"type": "object", "required": [*RECONCILED_REQUIRED, "source"], "properties": {
    **RECONCILED_PROPERTIES, "day": {"type": "string", "format": "date"},
    "source": {"type": "string", "enum": list(SOURCES)}}}


def query(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}}
            for name in names]


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def json_reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
READINESS = {
    "type": "object", "required": ["status", "checks"],
    "properties": {"status": {"enum": ["ready", "unavailable"]},
                   "checks": {"type": "object", "additionalProperties": {"type": "boolean"}}},
}
# The dashboard takes the session cookie its login form sets, or an API key as a Bearer token or Basic password.
DASHBOARD_SECURITY: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}, {"basic": []}]

CODE_PARAMETER = {"name": "code", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
DOMAIN_PARAMETER = {"name": "domain", "in": "query", "required": False, "schema": DOMAIN,
                    "description": "the short domain of the code; default: the first domain that has it"}
LINK_PARAMETERS = [CODE_PARAMETER, DOMAIN_PARAMETER]
LIST_PARAMETERS = [
    *({"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200},
       "description": why} for name, why in (
        ("campaign", "exact campaign (normalised as the link's is)"), ("message", "exact message label"),
        ("tag", "links carrying this tag"), ("q", "substring of the code or the destination"),
        ("domain", "links of this short domain"), ("cursor", "next_cursor of the previous page"))),
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
]

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
