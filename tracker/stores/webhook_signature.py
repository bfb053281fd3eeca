"""The signature Shopify and WooCommerce put on a webhook: base64 HMAC-SHA256 of the raw body under the secret.

Both platforms compute it over the bytes exactly as sent (the JSON as they encoded it), so the body is verified
before it is parsed and never re-serialised. The header is attacker-controlled: it is compared as bytes in
constant time, whatever it holds, and a header that is not even base64 is simply a mismatch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# A SHA-256 digest is 32 bytes, 44 base64 characters; anything much longer is not worth hashing against.
_MAX_SIGNATURE_LENGTH = 128


def sign(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)), as Shopify's `X-Shopify-Hmac-Sha256` and WooCommerce's
    `X-WC-Webhook-Signature` carry it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the platform's signature of `body`. An empty secret verifies nothing."""
    if not secret or not signature or len(signature) > _MAX_SIGNATURE_LENGTH:
        return False
    expected = sign(secret, body).encode()
    # Bytes, because compare_digest refuses non-ASCII str and the header may hold anything.
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogateescape"))
