"""The parts the admin API's OpenAPI document is built of: the shared schemas (link, conversion, report,
message, errors) and the small helpers that spell a parameter, a body or a reply.

Kept apart from `openapi.py`, which lists the operations, so each stays short enough to read.
"""

from __future__ import annotations

from typing import Any

from tracker.conversion import CONVERSION_TYPES, SOURCES
from tracker.message import STATUSES
from tracker.reports.campaign import METRICS

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
