"""Recipients are never stored: only `recipient_ref`, an HMAC of their normalised form.

Phones are normalised to E.164 with `phonenumbers` (so "+44 20 7946 0958" and "+442079460958"
give the same ref), e-mails are trimmed and lower-cased.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

MAX_RECIPIENT_LENGTH = 254


class InvalidRecipient(ValueError):
    """Not a phone number in international format nor an e-mail address."""


def normalise_recipient(recipient: str, region: str | None = None) -> str:
    """The canonical form a recipient is keyed by: E.164 for phones, lower-case for e-mail.

    `region` (ISO 3166-1 alpha-2) reads a phone written without its country code, as stores keep them
    ("(555) 555-5555" with the billing country US); without it a phone needs the international format.
    """
    if not isinstance(recipient, str):
        raise InvalidRecipient("must be a string (a phone number or an e-mail address)")
    text = recipient.strip()
    if not text or len(text) > MAX_RECIPIENT_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidRecipient("must be a phone number (+ and country code) or an e-mail address")
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "." not in domain or " " in text or domain.startswith(".") or domain.endswith("."):
            raise InvalidRecipient("not a valid e-mail address")
        return text.lower()
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        raise InvalidRecipient("phone numbers need the international format, like +14155550123") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidRecipient("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class RecipientKeyer:
    """Turns a recipient into its `recipient_ref`: hex HMAC-SHA256 (128 bits) under TRACKER_SECRET."""

    def __init__(self, secret: str) -> None:
        self._mac = hmac.new(secret.encode(), b"recipient:", hashlib.sha256)

    def ref(self, recipient: str, region: str | None = None) -> str:
        mac = self._mac.copy()
        mac.update(normalise_recipient(recipient, region).encode())
        return mac.hexdigest()[:32]
