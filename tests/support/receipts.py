"""Delivery receipts shaped like the providers' documented samples, and signed as the providers sign them.

Twilio: a Messaging status callback as in Twilio's "Track the message status of outbound messages" guide
(form parameters; a delivered one carries RawDlrDoneDate, a failed one ErrorCode). Telnyx: `message.sent` /
`message.finalized` as in Telnyx's "Receiving webhooks for messaging" and its delivery-update callback
reference. Signatures are computed by independent code here, not by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
TELNYX_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"telnyx test key").digest())
TELNYX_PUBLIC_KEY = base64.b64encode(TELNYX_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
ACCOUNT_SID = "AC" + "0" * 31 + "1"
SENDER = "+15017122661"


def twilio_params(message_sid: str, status: str, to: str, error_code: str = "", **extra: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "ChannelInstallSid": "XE" + "0" * 32,
        "ChannelPrefix": to.split(":")[0] if ":" in to else "sms",
        "ChannelStatusMessage": status,
        "ChannelToAddress": to.split(":")[-1],
        "From": SENDER,
        "MessageSid": message_sid,
        "MessageStatus": status,
        "MessagingServiceSid": "MG" + "0" * 32,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "StructuredMessage": "false",
        "To": to,
    }
    if status == "delivered":
        params["RawDlrDoneDate"] = "2611201512"
    if error_code:
        params["ErrorCode"] = error_code
    params.update(extra)
    return params


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_request(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a status callback POSTed to `url` (the public URL, query included)."""
    return urlencode(params).encode(), {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-twilio-signature": twilio_signature(token, url, params),
        "i-twilio-idempotency-token": base64.b64encode(params.get("MessageSid", "").encode()).decode(),
        "user-agent": "TwilioProxy/1.1",
    }


def telnyx_event(
    message_id: str, event_type: str, to: list[tuple[str, str]], occurred_at: str = "2026-11-20T12:00:00.000+00:00",
    error_code: str = "",
) -> dict[str, Any]:
    """A message webhook; `to` is [(phone_number, status)]."""
    errors = [{"code": error_code, "title": "Message delivery failed", "detail": "carrier rejected"}] \
        if error_code else []
    return {
        "data": {
            "event_type": event_type,
            "id": f"evt-{message_id}-{event_type}",
            "occurred_at": occurred_at,
            "payload": {
                "completed_at": occurred_at if event_type == "message.finalized" else None,
                "cost": {"amount": "0.0051", "currency": "USD"},
                "direction": "outbound",
                "encoding": "GSM-7",
                "errors": errors,
                "from": {"carrier": "TELNYX LLC", "line_type": "VoIP", "phone_number": "+18445550001"},
                "id": message_id,
                "media": [],
                "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6",
                "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
                "parts": 1,
                "received_at": occurred_at,
                "record_type": "message",
                "sent_at": occurred_at,
                "tags": [],
                "text": "Black Friday: 30% off https://go.shop.example/abc",
                "to": [{"carrier": "T-MOBILE USA, INC.", "line_type": "Wireless", "phone_number": phone,
                        "status": status} for phone, status in to],
                "type": "SMS",
                "valid_until": None,
                "webhook_failover_url": None,
                "webhook_url": "https://go.shop.example/hooks/telnyx",
            },
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": "https://go.shop.example/hooks/telnyx"},
    }


def telnyx_request(
    event: dict[str, Any], timestamp: int | None = None, key: Ed25519PrivateKey = TELNYX_KEY,
) -> tuple[bytes, dict[str, str]]:
    return telnyx_signed(orjson.dumps(event), timestamp, key)


def telnyx_signed(
    body: bytes, timestamp: int | None = None, key: Ed25519PrivateKey = TELNYX_KEY,
) -> tuple[bytes, dict[str, str]]:
    """Any body, signed as Telnyx signs a webhook: Ed25519 over `timestamp|body`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
    return body, {
        "content-type": "application/json",
        "telnyx-signature-ed25519": signature,
        "telnyx-timestamp": stamp,
        "user-agent": "telnyx-webhooks",
    }
