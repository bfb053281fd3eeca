"""The admin API keys (TRACKER_API_KEYS), checked by the API's bearer middleware and the dashboard's login."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def key_matches(presented: str, keys: Sequence[str]) -> bool:
    """Compare against every key, without stopping early, so timing tells nothing about which matched."""
    candidate = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key.encode())
    return matched
