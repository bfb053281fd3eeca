"""Telnyx's webhook signature: Ed25519 over `telnyx-timestamp|raw body`, with the account's public key.

Telnyx sends `telnyx-signature-ed25519` (base64 of the 64-byte signature) and `telnyx-timestamp` (Unix
seconds). The signed bytes are the timestamp, a `|`, and the body exactly as received. A request whose
timestamp is more than `TOLERANCE` seconds away from our clock, either way, is refused even when its
signature holds: that is what keeps a captured request from being replayed later.

The public key is the one the Telnyx portal shows (base64 of the raw 32 bytes). Verification is the
`cryptography` library's; nothing here does curve arithmetic.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE = 300  # seconds, as Telnyx's own libraries use
_MAX_TIMESTAMP_DIGITS = 12


class SignatureRefused(ValueError):
    """The request is not Telnyx's, or not fresh; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The portal's base64 public key; ValueError naming what is wrong."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected the base64 public key the Telnyx portal shows") from None
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes of Ed25519 public key in base64, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


class TelnyxVerifier:
    def __init__(self, public_key: Ed25519PublicKey, tolerance: int = TOLERANCE) -> None:
        self._key = public_key
        self._tolerance = tolerance

    def verify(self, signature: str | None, timestamp: str | None, body: bytes, now: float) -> None:
        """Raise SignatureRefused unless the signature is Telnyx's over this body and the timestamp is fresh."""
        if not signature or not timestamp:
            raise SignatureRefused("missing_signature")
        stamp = timestamp.strip()
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > _MAX_TIMESTAMP_DIGITS:
            raise SignatureRefused("bad_timestamp")
        try:
            raw = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused("bad_signature") from None
        # The signature first: a stale request and a forged one must not be told apart by an attacker who
        # has neither, and a stale one that verifies is still refused below.
        try:
            self._key.verify(raw, stamp.encode() + b"|" + body)
        except InvalidSignature:
            raise SignatureRefused("bad_signature") from None
        age = now - int(stamp)
        if age > self._tolerance:
            raise SignatureRefused("stale_timestamp")
        if age < -self._tolerance:
            raise SignatureRefused("future_timestamp")
