"""The link: what a short code points at, and the attribution labels it carries.

`LinkDraft.from_json` validates what the admin API receives; `Link` is what is stored. The
raw recipient never reaches either: only its `recipient_ref`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from shortlinks.destination import InvalidDestination, canonical_destination, short_host, tag_url
from shortlinks.recipient import InvalidRecipient
from shortlinks.utm import InvalidUtm, normalise_utm, normalise_utm_value

MAX_LABEL_LENGTH = 200
MAX_TAGS = 20
MAX_TAG_LENGTH = 64
LINK_FIELDS = (
    "destination", "utm", "channel", "campaign", "message", "tags", "recipient", "expires_at", "code", "domain",
)
# Fields a link made for many recipients at once cannot take: each gets its own code and recipient.
PER_LINK_FIELDS = ("recipient", "code")
PATCH_FIELDS = ("disabled", "expires_at", "destination")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
VANITY_CODE = re.compile(r"[A-Za-z0-9_-]{3,64}")
# Paths the edge answers itself, so no link may be named after them.
RESERVED_CODES = frozenset({"healthz", "readyz", "metrics"})


class InvalidLink(ValueError):
    """Input that cannot become a link; the message starts with the field's name."""


@dataclass(frozen=True, slots=True)
class LinkRules:
    """What link validation needs from the settings."""

    allowed_hosts: tuple[str, ...] = ()
    click_param: str = "sclid"
    domains: tuple[str, ...] = ()  # the short domains a link may belong to; empty: only the default one


@dataclass(frozen=True, slots=True)
class LinkDraft:
    """A validated link before it has a code. `recipient` is already turned into its ref."""

    destination: str
    tagged_url: str
    utm: Mapping[str, str]
    channel: str
    campaign: str
    message: str
    tags: tuple[str, ...]
    recipient_ref: str = ""
    expires_at: datetime | None = None
    code: str = ""  # a vanity code; empty: the store generates one
    domain: str = ""  # empty: the default short domain

    @classmethod
    def from_json(
        cls,
        body: object,
        rules: LinkRules,
        recipient_ref: Callable[[str], str] | None = None,
        now: datetime | None = None,
        allow_recipient: bool = True,
    ) -> LinkDraft:
        if not isinstance(body, Mapping):
            raise InvalidLink("body: expected a JSON object")
        allowed = set(LINK_FIELDS) if allow_recipient else set(LINK_FIELDS) - set(PER_LINK_FIELDS)
        unknown = set(body) - allowed
        if unknown:
            raise InvalidLink(f"{sorted(unknown)[0]}: unknown field")
        if "destination" not in body:
            raise InvalidLink("destination: required")
        try:
            destination = canonical_destination(body["destination"], rules.allowed_hosts)
        except InvalidDestination as exc:
            raise InvalidLink(f"destination: {exc}") from None
        try:
            utm = normalise_utm(body.get("utm"))
        except InvalidUtm as exc:
            raise InvalidLink(str(exc) if str(exc).startswith("utm") else f"utm: {exc}") from None
        channel = parse_label(body, "channel") or utm["medium"] or "sms"
        campaign = _campaign(body, utm)
        utm = {**utm, "campaign": campaign}
        message = parse_label(body, "message", lower=False)
        tags = parse_tags(body.get("tags"))
        ref = ""
        if body.get("recipient") is not None:
            if recipient_ref is None:
                raise InvalidLink("recipient: not accepted here")
            try:
                ref = recipient_ref(body["recipient"])
            except InvalidRecipient as exc:
                raise InvalidLink(f"recipient: {exc}") from None
        expires_at = parse_expiry(body.get("expires_at"))
        if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
            raise InvalidLink("expires_at: is in the past")
        return cls(
            destination=destination,
            tagged_url=tag_url(destination, utm, drop_params=(rules.click_param,)),
            utm=utm,
            channel=channel,
            campaign=campaign,
            message=message,
            tags=tags,
            recipient_ref=ref,
            expires_at=expires_at,
            code=vanity_code(body.get("code")),
            domain=_domain(body.get("domain"), rules.domains),
        )

    def for_recipient(self, recipient_ref: str) -> LinkDraft:
        return replace(self, recipient_ref=recipient_ref)


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    destination: str
    tagged_url: str
    utm: Mapping[str, str]
    channel: str
    campaign: str
    message: str
    tags: tuple[str, ...]
    recipient_ref: str
    expires_at: datetime | None
    created_at: datetime
    disabled: bool = False
    version: int = 1
    domain: str = ""

    @classmethod
    def from_draft(cls, code: str, draft: LinkDraft, created_at: datetime, domain: str = "") -> Link:
        return cls(
            code=code,
            destination=draft.destination,
            tagged_url=draft.tagged_url,
            utm=draft.utm,
            channel=draft.channel,
            campaign=draft.campaign,
            message=draft.message,
            tags=draft.tags,
            recipient_ref=draft.recipient_ref,
            expires_at=draft.expires_at,
            created_at=created_at,
            domain=draft.domain or domain,
        )

    def patched(self, body: object, rules: LinkRules) -> Link:
        """Apply a PATCH body (`disabled`, `expires_at`, `destination`); raises InvalidLink."""
        if not isinstance(body, Mapping) or not body:
            raise InvalidLink("body: expected a JSON object with disabled, expires_at or destination")
        unknown = set(body) - set(PATCH_FIELDS)
        if unknown:
            raise InvalidLink(f"{sorted(unknown)[0]}: cannot be changed (only {', '.join(PATCH_FIELDS)})")
        link = self
        if "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise InvalidLink("disabled: expected true or false")
            link = replace(link, disabled=body["disabled"])
        if "expires_at" in body:
            link = replace(link, expires_at=parse_expiry(body["expires_at"]))
        if "destination" in body:
            try:
                destination = canonical_destination(body["destination"], rules.allowed_hosts)
            except InvalidDestination as exc:
                raise InvalidLink(f"destination: {exc}") from None
            tagged = tag_url(destination, link.utm, drop_params=(rules.click_param,))
            link = replace(link, destination=destination, tagged_url=tagged)
        return replace(link, version=self.version + 1)

    def to_api(self, short_base: str) -> dict[str, Any]:
        """The API's view; `short_base` is the short base of the link's domain (`Settings.short_base_for`)."""
        return {
            "code": self.code,
            "domain": self.domain,
            "short_url": f"{short_base}/{self.code}",
            "destination": self.destination,
            "tagged_url": self.tagged_url,
            "utm": dict(self.utm),
            "channel": self.channel,
            "campaign": self.campaign,
            "message": self.message,
            "tags": list(self.tags),
            "recipient_ref": self.recipient_ref or None,
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "disabled": self.disabled,
        }

    def to_record(self) -> bytes:
        """The stored form (JSON), one Redis string per link."""
        return orjson.dumps({
            "code": self.code,
            "destination": self.destination,
            "tagged_url": self.tagged_url,
            "utm": self.utm,
            "channel": self.channel,
            "campaign": self.campaign,
            "message": self.message,
            "tags": self.tags,
            "recipient_ref": self.recipient_ref,
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "disabled": self.disabled,
            "version": self.version,
            "domain": self.domain,
        })

    @classmethod
    def from_record(cls, record: bytes | str) -> Link:
        data = orjson.loads(record)
        return cls(
            code=data["code"],
            destination=data["destination"],
            tagged_url=data["tagged_url"],
            utm=data["utm"],
            channel=data["channel"],
            campaign=data["campaign"],
            message=data["message"],
            tags=tuple(data["tags"]),
            recipient_ref=data["recipient_ref"],
            expires_at=_parse_iso(data["expires_at"]),
            created_at=_parse_iso(data["created_at"]) or datetime.now(UTC),
            disabled=data["disabled"],
            version=data.get("version", 1),
            domain=data.get("domain", ""),
        )


def parse_expiry(value: object) -> datetime | None:
    """ISO 8601 date-time (naive means UTC) or null."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidLink("expires_at: expected an ISO 8601 date-time like 2026-12-31T23:59:00Z, or null")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidLink("expires_at: expected an ISO 8601 date-time like 2026-12-31T23:59:00Z, or null") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def vanity_code(value: object) -> str:
    """A chosen code's shape (`A-Za-z0-9_-`, 3 to 64); whether it is free is the store's question."""
    if value is None:
        return ""
    if not isinstance(value, str) or not VANITY_CODE.fullmatch(value):
        raise InvalidLink("code: expected 3 to 64 of A-Z, a-z, 0-9, '_' and '-'")
    if value.lower() in RESERVED_CODES:
        raise InvalidLink(f"code: {value!r} is reserved (a path the edge serves itself)")
    return value


def _domain(value: object, domains: tuple[str, ...]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidLink("domain: expected a string, one of the short domains")
    try:
        domain = short_host(value)  # as TRACKER_SHORT_DOMAINS was read: "faß.example" is "xn--fa-hia.example"
    except ValueError:
        domain = ""
    if domain not in domains:
        known = ", ".join(domains) or "only the host of TRACKER_SHORT_BASE"
        raise InvalidLink(f"domain: not one of the short domains ({known}); TRACKER_SHORT_DOMAINS adds more")
    return domain


def parse_label(body: Mapping[str, object], name: str, lower: bool = True) -> str:
    """A label field of `body` (channel, campaign, message) as links store it; also used for messages."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidLink(f"{name}: expected a string")
    if lower:
        try:
            return normalise_utm_value(value)
        except InvalidUtm as exc:
            raise InvalidLink(f"{name}: {exc}") from None
    text = value.strip()
    if len(text) > MAX_LABEL_LENGTH or _CONTROL.search(text):
        raise InvalidLink(f"{name}: at most {MAX_LABEL_LENGTH} characters, no control characters")
    return text


def _campaign(body: Mapping[str, object], utm: Mapping[str, str]) -> str:
    """One campaign for the link and its `utm_campaign`, normalised as UTM values are.

    Either field defaults to the other, so `"campaign": "Black Friday"` and `"utm": {"campaign":
    "black_friday"}` are one report row, never two; two different values are a mistake to report.
    """
    campaign = parse_label(body, "campaign")
    if campaign and utm["campaign"] and campaign != utm["campaign"]:
        raise InvalidLink(
            f"campaign and utm.campaign: differ ({campaign!r} and {utm['campaign']!r} once normalised); "
            "give one of them, or the same value"
        )
    return campaign or utm["campaign"]


def parse_tags(value: object) -> tuple[str, ...]:
    """Tags as links store them (normalised, deduplicated, in order); also used for messages."""
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidLink("tags: expected a list of strings")
    if len(value) > MAX_TAGS:
        raise InvalidLink(f"tags: at most {MAX_TAGS}")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidLink("tags: expected non-empty strings")
        try:
            text = normalise_utm_value(tag)
        except InvalidUtm:
            text = ""
        if not text or len(text) > MAX_TAG_LENGTH:
            raise InvalidLink(f"tags: each at most {MAX_TAG_LENGTH} characters")
        if text not in tags:
            tags.append(text)
    return tuple(tags)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))
