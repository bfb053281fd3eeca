"""Telnyx's webhook signature: Ed25519 over timestamp|body, fresh within 300 s either way."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tracker.edge.telnyx import SignatureRefused, TelnyxVerifier, parse_public_key

PRIVATE = Ed25519PrivateKey.generate()
PUBLIC_B64 = base64.b64encode(PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
BODY = b'{"data":{"event_type":"message.finalized","payload":{"id":"40385f64-5717-4562-b3fc-2c963f66afa6"}}}'
NOW = 1_790_000_000


def sign(timestamp: str, body: bytes, key: Ed25519PrivateKey = PRIVATE) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()


def refusal(signature: str | None, timestamp: str | None, body: bytes = BODY, now: float = NOW) -> str | None:
    try:
        TelnyxVerifier(parse_public_key(PUBLIC_B64)).verify(signature, timestamp, body, now)
    except SignatureRefused as exc:
        return exc.reason
    return None


def test_a_fresh_signature_of_the_exact_body_verifies() -> None:
    assert refusal(sign(str(NOW), BODY), str(NOW)) is None
    assert refusal(sign(str(NOW - 300), BODY), str(NOW - 300)) is None  # the edges of the tolerance
    assert refusal(sign(str(NOW + 300), BODY), str(NOW + 300)) is None


def test_a_changed_body_timestamp_or_key_is_a_bad_signature() -> None:
    good = sign(str(NOW), BODY)
    assert refusal(good, str(NOW), BODY + b" ") == "bad_signature"
    assert refusal(good, str(NOW - 1)) == "bad_signature"
    assert refusal(sign(str(NOW), BODY, Ed25519PrivateKey.generate()), str(NOW)) == "bad_signature"
    assert refusal(base64.b64encode(b"\0" * 64).decode(), str(NOW)) == "bad_signature"
    assert refusal(good[:-4], str(NOW)) == "bad_signature"  # truncated
    assert refusal("not base64!", str(NOW)) == "bad_signature"


def test_stale_and_far_future_timestamps_are_refused_even_when_signed() -> None:
    assert refusal(sign(str(NOW - 301), BODY), str(NOW - 301)) == "stale_timestamp"
    assert refusal(sign(str(NOW + 301), BODY), str(NOW + 301)) == "future_timestamp"


def test_missing_or_odd_headers_are_refused() -> None:
    good = sign(str(NOW), BODY)
    assert refusal(None, str(NOW)) == "missing_signature"
    assert refusal(good, None) == "missing_signature"
    assert refusal(good, "") == "missing_signature"
    for stamp in ("-5", "1.5", "１２", "9" * 40, "abc"):
        assert refusal(good, stamp) == "bad_timestamp"


@pytest.mark.parametrize("text", ["", "not base64", base64.b64encode(b"short").decode(), "A" * 45])
def test_a_public_key_that_is_not_32_bytes_of_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="base64|32 bytes"):
        parse_public_key(text)
