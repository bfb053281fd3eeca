"""Short codes: hashids over a Redis counter plus a random component, salted with the secret.

The counter makes every code distinct without a uniqueness check; the 16 random bits packed
under it make neighbours unguessable (knowing code N says nothing about code N+1), and the
secret salt makes the alphabet order unknown. Codes are 6 to 7 characters for the first
~250k links and stay within 8 up to ~8 million links (hashids keeps 14 letters as separators).
"""

from __future__ import annotations

import re
import secrets

from hashids import Hashids

RANDOM_BITS = 16
MIN_LENGTH = 6
MAX_LENGTH = 12
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"  # codes are tapped, not typed
# Generated codes (6-12 of ALPHABET) and vanity codes (3-64 of A-Za-z0-9_-) both fit this shape.
WELL_FORMED = re.compile(r"^[A-Za-z0-9_-]{3,64}$")


class CodeGenerator:
    def __init__(self, secret: str) -> None:
        self._hashids = Hashids(salt=secret, min_length=MIN_LENGTH, alphabet=ALPHABET)

    def encode(self, counter: int) -> str:
        """The code of the `counter`-th link, with fresh random bits."""
        return self._hashids.encode((counter << RANDOM_BITS) | secrets.randbits(RANDOM_BITS))

    def counter_of(self, code: str) -> int | None:
        """The counter a code was made from, or None when it is not one of ours."""
        numbers = self._hashids.decode(code)
        if len(numbers) != 1:
            return None
        return numbers[0] >> RANDOM_BITS


def is_well_formed(code: str) -> bool:
    """Cheap shape check the edge runs before touching any store: a generated or a vanity code."""
    return WELL_FORMED.match(code) is not None
