"""UTM values: the five labels a link carries, normalised so one campaign is one report row.

Destinations, and putting these values on them, are in `shortlinks.destination`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

UTM_KEYS: tuple[str, ...] = ("source", "medium", "campaign", "content", "term")
MAX_UTM_LENGTH = 200

# Control characters, white space of any script, and invisible format characters (zero-width, bidi overrides).
UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f\s\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"\s+")


class InvalidUtm(ValueError):
    """A UTM value is unusable (too long or with control characters)."""


def normalise_utm_value(value: object) -> str:
    """Trim, lower-case, and turn runs of white space into one `_` ("Black  Friday " -> "black_friday")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidUtm("must be a string")
    text = _SPACES.sub("_", value.strip()).lower()
    if len(text) > MAX_UTM_LENGTH:
        raise InvalidUtm(f"longer than {MAX_UTM_LENGTH} characters")
    if UNPRINTABLE.search(text):
        raise InvalidUtm("contains control characters")
    return text


def normalise_utm(utm: object) -> dict[str, str]:
    """The five UTM values, normalised; unknown keys are refused so typos do not pass silently.

    Only an absent `utm` (None) means "no UTM": `[]`, `false` or `""` are mistakes, not empty objects.
    """
    if utm is None:
        utm = {}
    if not isinstance(utm, Mapping):
        raise InvalidUtm("utm: expected an object with source, medium, campaign, content, term")
    unknown = set(utm) - set(UTM_KEYS)
    if unknown:
        raise InvalidUtm(f"unknown key {sorted(unknown)[0]!r}; expected {', '.join(UTM_KEYS)}")
    result = {}
    for key in UTM_KEYS:
        try:
            result[key] = normalise_utm_value(utm.get(key))
        except InvalidUtm as exc:
            raise InvalidUtm(f"utm.{key}: {exc}") from None
    return result
