"""Messages: a text the SMS platform sent, and what became of it (sent, delivered, failed, read).

Three doors lead in, one named constructor each, all ending in the same frozen `Message`:

- `Message.from_api`: an item of `POST /v1/messages` (authenticated). It may name a link by `code`; the link's
  channel, campaign, message, tags, UTM values and recipient are then the defaults of the fields not given.
- `Message.from_twilio`: a Twilio Messaging status callback (form parameters), signature already verified.
- `Message.from_telnyx`: a Telnyx message webhook (`message.sent`, `message.finalized`), signature verified;
  one message per `to[]` entry.

A receipt from a provider knows nothing of our campaigns: it carries the provider's message id, the status
and the recipient. It is kept as it is and joins its message (the row registered through the API with the
same `message_id`) when the report is asked for, whichever arrived first. `source` says which door a row came
through, so the report takes a message's labels from the API's row when there is one.

Provider statuses map onto ours (`STATUSES`); the ones that say nothing about delivery (queued, sending,
accepted, scheduled, inbound ones) map to None and are acknowledged without being recorded, and so are
statuses a provider adds later, which we do not know yet: a receipt is never refused for being new.

`to_event` is the stream event and `from_event` what the loader reads back, checked against the same rules,
so what reaches ClickHouse is exactly what the doors let in. Refusals are `InvalidMessage` with a short
`reason`; their messages never echo the input (a phone number may sit in the wrong field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shortlinks.link import InvalidLink, Link, parse_label, parse_tags
from shortlinks.recipient import InvalidRecipient, RecipientKeyer
from tracker.conversion import InvalidConversion, parse_occurred_at
from tracker.events import message as event

STATUSES: tuple[str, ...] = ("sent", "delivered", "undelivered", "failed", "read")
SOURCES: tuple[str, ...] = ("api", "twilio", "telnyx")
UTM_KEYS: tuple[str, ...] = ("source", "medium", "campaign", "content", "term")

API_FIELDS = frozenset({
    "message_id", "status", "recipient", "code", "channel", "campaign", "message", "tags", "provider",
    "occurred_at", "error_code",
})

# Twilio's MessageStatus values (Message resource): the ones that tell about delivery, and their meaning here.
# queued, accepted, scheduled, sending: not yet out; canceled: a scheduled message that never went;
# receiving, received: inbound; partially_delivered: some parts of a multi-part message, not a final answer.
TWILIO_STATUSES: Mapping[str, str] = {
    "sent": "sent", "delivered": "delivered", "undelivered": "undelivered", "failed": "failed", "read": "read",
}
# Telnyx `to[].status`: delivery_failed is the carrier saying it could not deliver (undelivered), sending_failed
# is Telnyx unable to send at all (failed), expired ran out of validity without delivery (undelivered),
# delivery_unconfirmed was sent but the carrier never confirmed (sent). queued, sending: not out yet;
# webhook_delivered: inbound.
TELNYX_STATUSES: Mapping[str, str] = {
    "sent": "sent", "delivered": "delivered", "delivery_failed": "undelivered", "sending_failed": "failed",
    "expired": "undelivered", "delivery_unconfirmed": "sent",
}
TELNYX_EVENTS = frozenset({"message.sent", "message.finalized"})

MAX_MESSAGE_ID_LENGTH = 128
MAX_FIELD_LENGTH = 256
MAX_ERROR_CODE_LENGTH = 32
_CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PROVIDER_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_RECIPIENT_REF_RE = re.compile(r"[0-9a-f]{1,64}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Twilio's To is "whatsapp:+1415...", "rcs:+1..." or a bare number for SMS/MMS.
_TWILIO_ADDRESS_RE = re.compile(r"(?:([a-z]{2,16}):)?(.*)", re.DOTALL)


class InvalidMessage(ValueError):
    """A message event we refuse. `reason` is short and machine-readable; `str(exc)` names the field."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str  # the provider's id
    status: str  # one of STATUSES
    ts_ms: int  # when the status happened (or was reported), epoch milliseconds UTC
    recipient_ref: str  # '' when unknown; never the raw recipient
    code: str  # the short link the text carried, '' when none
    channel: str
    campaign: str
    message: str
    tags: tuple[str, ...]
    utm: Mapping[str, str]  # the link's UTM values (UTM_KEYS); '' each without a link
    provider: str  # 'twilio', 'telnyx' or what the API caller names ('' when not said)
    error_code: str  # the provider's error code of a failure, '' when none
    source: str  # one of SOURCES: which door the row came through
    domain: str = ""  # the short domain of the link `code` names, '' without a link

    @property
    def identity(self) -> str:
        """What makes two events the same one: (message_id, status) per door. A provider's redelivered receipt
        counts once, and so does a platform posting the same status twice; but the platform's registration of
        a text and the provider's receipt of the same status are two facts (the registration brings the labels),
        so a receipt that came first never turns the registration into a duplicate."""
        return f"{self.source}:{self.status}:{self.message_id}"

    @classmethod
    def from_api(
        cls, obj: object, keyer: RecipientKeyer, now_ms: int, links: Mapping[str, Link] | None = None
    ) -> Message:
        """One item of `POST /v1/messages`. `links` holds the links the batch's codes name (the caller looks
        them up in one go); the link's labels are the defaults of the fields not given."""
        if not isinstance(obj, dict):
            raise InvalidMessage("not_an_object", "each message must be a JSON object")
        unknown = sorted(str(key) for key in obj.keys() - API_FIELDS)
        if unknown:
            raise InvalidMessage("unknown_field", f"{unknown[0][:40]!r}: unknown field (allowed: "
                                 f"{', '.join(sorted(API_FIELDS))})")
        for name, raw in obj.items():
            if isinstance(raw, str) and len(raw) > MAX_FIELD_LENGTH:
                raise InvalidMessage("field_too_long", f"{name}: longer than {MAX_FIELD_LENGTH} characters")
        message_id = parse_message_id(obj.get("message_id"))
        status = _parse_status(obj.get("status"))
        code = parse_code(obj.get("code"))
        link = (links or {}).get(code) if code else None
        if code and link is None:
            raise InvalidMessage("unknown_code", "code: no link has this code")
        labels = _parse_labels(obj)
        given_recipient = _recipient_ref(obj.get("recipient"), keyer)
        try:
            occurred = parse_occurred_at(obj.get("occurred_at"), now_ms)
        except InvalidConversion as exc:
            raise InvalidMessage(exc.reason, str(exc)) from None
        return cls(
            message_id=message_id,
            status=status,
            ts_ms=occurred,
            recipient_ref=given_recipient or (link.recipient_ref if link else ""),
            code=code,
            channel=labels.get("channel") or (link.channel if link else "") or "sms",
            campaign=labels.get("campaign", link.campaign if link else ""),
            message=labels.get("message", link.message if link else ""),
            tags=labels.get("tags", link.tags if link else ()),
            utm={key: (link.utm.get(key, "") if link else "") for key in UTM_KEYS},
            provider=_parse_provider(obj.get("provider")),
            error_code=_parse_error_code(obj.get("error_code"), strict=True),
            source="api",
            domain=link.domain if link else "",
        )

    @classmethod
    def from_twilio(cls, params: Mapping[str, str], keyer: RecipientKeyer, now_ms: int) -> Message | None:
        """A Messaging status callback (its form parameters); None for a status that says nothing of delivery.

        Twilio sends no time of its own in a status callback: the row gets the time we received it.
        """
        message_id = parse_message_id(params.get("MessageSid") or params.get("SmsSid"), field="MessageSid")
        raw_status = params.get("MessageStatus") or params.get("SmsStatus")
        if not raw_status:
            raise InvalidMessage("missing_status", "MessageStatus: required")
        status = TWILIO_STATUSES.get(raw_status.strip().lower())
        if status is None:
            return None
        channel, recipient_ref = _twilio_recipient(params.get("To", ""), keyer)
        return cls(
            message_id=message_id,
            status=status,
            ts_ms=now_ms,
            recipient_ref=recipient_ref,
            code="",
            channel=channel,
            campaign="",
            message="",
            tags=(),
            utm=dict.fromkeys(UTM_KEYS, ""),
            provider="twilio",
            error_code=_parse_error_code(params.get("ErrorCode"), strict=False),
            source="twilio",
        )

    @classmethod
    def from_telnyx(cls, body: object, keyer: RecipientKeyer, now_ms: int) -> list[Message]:
        """A message webhook: one message per recipient in `to[]`; [] for events that are not delivery news."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise InvalidMessage("bad_payload", "data: expected an object")
        event_type = data.get("event_type")
        if not isinstance(event_type, str):
            raise InvalidMessage("bad_payload", "data.event_type: expected a string")
        if event_type not in TELNYX_EVENTS:
            return []
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise InvalidMessage("bad_payload", "data.payload: expected an object")
        message_id = parse_message_id(payload.get("id"), field="data.payload.id")
        recipients = payload.get("to")
        if not isinstance(recipients, list) or not recipients:
            raise InvalidMessage("bad_payload", "data.payload.to: expected a list of recipients")
        ts_ms = _telnyx_time(data.get("occurred_at"), now_ms)
        error_code = _telnyx_error_code(payload.get("errors"))
        messages = []
        for recipient in recipients:
            if not isinstance(recipient, dict) or not isinstance(recipient.get("status"), str):
                raise InvalidMessage("bad_payload", "data.payload.to[]: expected objects with a status")
            status = TELNYX_STATUSES.get(recipient["status"].strip().lower())
            if status is None:
                continue
            phone = recipient.get("phone_number")
            messages.append(cls(
                message_id=message_id,
                status=status,
                ts_ms=ts_ms,
                recipient_ref=_lenient_ref(phone, keyer) if isinstance(phone, str) else "",
                code="",
                channel="sms",
                campaign="",
                message="",
                tags=(),
                utm=dict.fromkeys(UTM_KEYS, ""),
                provider="telnyx",
                error_code=error_code if status in ("failed", "undelivered") else "",
                source="telnyx",
            ))
        return messages

    def to_event(self) -> dict[str, object]:
        """The stream event: flat, one field per column of the `messages` table, plus `kind`."""
        return {
            "kind": event.KIND,
            "message_id": self.message_id,
            "status": self.status,
            "ts": self.ts_ms,
            "recipient_ref": self.recipient_ref,
            "code": self.code,
            "channel": self.channel,
            "campaign": self.campaign,
            "message": self.message,
            "tags": list(self.tags),
            "provider": self.provider,
            "error_code": self.error_code,
            **{f"utm_{key}": self.utm.get(key, "") for key in UTM_KEYS},
            "source": self.source,
            "domain": self.domain,
        }

    @classmethod
    def from_event(cls, d: Mapping[str, object]) -> Message:
        """Inverse of `to_event`, for the loader; keys it does not know are ignored (newer writers)."""
        if not isinstance(d, Mapping):
            raise InvalidMessage("bad_event", "a message event must be an object")
        missing = [name for name in event.FIELDS if name not in d and name not in event.LATER_FIELDS]
        if missing:
            raise InvalidMessage("bad_event", f"{missing[0]}: missing from the event")
        if d["kind"] != event.KIND:
            raise InvalidMessage("bad_event", "kind: expected 'message'")
        domain = d.get("domain", "")
        if not isinstance(domain, str) or len(domain) > MAX_FIELD_LENGTH:
            raise InvalidMessage("bad_event", f"domain: expected a string of at most {MAX_FIELD_LENGTH}")
        ts = d["ts"]
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise InvalidMessage("bad_event", "ts: expected epoch milliseconds (an integer)")
        if d["status"] not in STATUSES:
            raise InvalidMessage("bad_event", f"status: expected one of {', '.join(STATUSES)}")
        if d["source"] not in SOURCES:
            raise InvalidMessage("bad_event", f"source: expected one of {', '.join(SOURCES)}")
        recipient_ref = d["recipient_ref"]
        if recipient_ref != "" and not (isinstance(recipient_ref, str) and _RECIPIENT_REF_RE.fullmatch(recipient_ref)):
            raise InvalidMessage("bad_event", "recipient_ref: expected a hex HMAC or ''")
        tags = d["tags"]
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise InvalidMessage("bad_event", "tags: expected a list of strings")
        strings = {}
        for name in ("channel", "campaign", "message", *(f"utm_{key}" for key in UTM_KEYS), "provider", "error_code"):
            value = d[name]
            if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH:
                raise InvalidMessage("bad_event", f"{name}: expected a string of at most {MAX_FIELD_LENGTH}")
            strings[name] = value
        return cls(
            message_id=parse_message_id(d["message_id"]),
            status=str(d["status"]),
            ts_ms=ts,
            recipient_ref=str(recipient_ref),
            code=parse_code(d["code"]),
            channel=strings["channel"],
            campaign=strings["campaign"],
            message=strings["message"],
            tags=tuple(tags),
            utm={key: strings[f"utm_{key}"] for key in UTM_KEYS},
            provider=strings["provider"],
            error_code=strings["error_code"],
            source=str(d["source"]),
            domain=domain,
        )


def parse_message_id(raw: object, field: str = "message_id") -> str:
    """The provider's id of the text: 1 to 128 printable characters, trimmed."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InvalidMessage("missing_message_id", f"{field}: required")
    if not isinstance(raw, str):
        raise InvalidMessage("bad_message_id", f"{field}: expected a string")
    text = raw.strip()
    if len(text) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidMessage("field_too_long", f"{field}: longer than {MAX_MESSAGE_ID_LENGTH} characters")
    # U+FFFD is what undecodable bytes become: two different ids must not collapse into one.
    if not text.isprintable() or "\ufffd" in text:
        raise InvalidMessage("bad_message_id", f"{field}: must not contain control or invisible characters")
    return text


def parse_code(raw: object) -> str:
    """A short code as the edge accepts them ('' when absent)."""
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or not _CODE_RE.fullmatch(raw):
        raise InvalidMessage("bad_code", "code: expected a short code (1 to 64 of A-Z a-z 0-9 _ -)")
    return raw


def _parse_status(raw: object) -> str:
    if raw is None or raw == "":
        raise InvalidMessage("missing_status", "status: required")
    status = raw.strip().lower() if isinstance(raw, str) else ""
    if status not in STATUSES:
        raise InvalidMessage("bad_status", f"status: expected one of {', '.join(STATUSES)}")
    return status


def _parse_labels(obj: Mapping[str, Any]) -> dict[str, Any]:
    """channel, campaign, message and tags that were given, normalised exactly as a link's are."""
    given = {name: obj[name] for name in ("channel", "campaign", "message", "tags") if obj.get(name) is not None}
    labels: dict[str, Any] = {}
    try:
        if "channel" in given:
            labels["channel"] = parse_label(given, "channel")
        if "campaign" in given:
            labels["campaign"] = parse_label(given, "campaign")  # normalised as a link's campaign and utm_campaign
        if "message" in given:
            labels["message"] = parse_label(given, "message", lower=False)
        if "tags" in given:
            labels["tags"] = parse_tags(given["tags"])
    except InvalidLink as exc:
        raise InvalidMessage("bad_label", str(exc)) from None
    return labels


def _parse_provider(raw: object) -> str:
    if raw is None or raw == "":
        return ""
    provider = raw.strip().lower() if isinstance(raw, str) else ""
    if not _PROVIDER_RE.fullmatch(provider):
        raise InvalidMessage("bad_provider", "provider: expected a name like twilio (a-z 0-9 _ . -, at most 32)")
    return provider


def _parse_error_code(raw: object, *, strict: bool) -> str:
    """A provider's error code ('30003'). From a provider hook an odd one is dropped, never a reason to refuse."""
    if raw is None or raw == "":
        return ""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if _ERROR_CODE_RE.fullmatch(text):
        return text
    if strict:
        raise InvalidMessage("bad_error_code", "error_code: expected 1 to 32 of A-Z a-z 0-9 _ . -")
    return ""


def _recipient_ref(raw: object, keyer: RecipientKeyer) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    try:
        return keyer.ref(raw)  # type: ignore[arg-type]  # non-strings are refused by the keyer itself
    except InvalidRecipient as exc:
        raise InvalidMessage("bad_recipient", f"recipient: {exc}") from None


def _lenient_ref(address: str, keyer: RecipientKeyer) -> str:
    """A provider's recipient address as a ref; '' for one that is no phone or e-mail (a short code...)."""
    try:
        return keyer.ref(address)
    except InvalidRecipient:
        return ""


def _twilio_recipient(to: str, keyer: RecipientKeyer) -> tuple[str, str]:
    """Channel and recipient_ref from Twilio's To: 'whatsapp:+1415...' is WhatsApp, a bare number SMS."""
    match = _TWILIO_ADDRESS_RE.fullmatch(to.strip())
    prefix, address = (match.group(1), match.group(2)) if match else (None, "")
    return (prefix or "sms"), _lenient_ref(address, keyer)


def _telnyx_time(raw: object, now_ms: int) -> int:
    """`data.occurred_at` (ISO 8601) in epoch ms; now when absent. Bounds as for every event time."""
    if raw is None:
        return now_ms
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidMessage("bad_occurred_at", "data.occurred_at: expected an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidMessage("bad_occurred_at", "data.occurred_at: expected an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return parse_occurred_at((moment - _EPOCH) // timedelta(milliseconds=1) / 1000, now_ms)
    except InvalidConversion as exc:
        raise InvalidMessage(exc.reason, f"data.{exc}") from None


def _telnyx_error_code(errors: object) -> str:
    """The first error's code of `payload.errors` ([{"code": "40300", "title": ...}]), '' when none."""
    if not isinstance(errors, Sequence) or isinstance(errors, str) or not errors:
        return ""
    first = errors[0]
    return _parse_error_code(first.get("code"), strict=False) if isinstance(first, dict) else ""
