"""How an SMS text travels: GSM-7 or UCS-2, how many characters it costs, how many segments.

The GSM 03.38 default alphabet and its extension table come from the `gsm0338` codec; the
suite holds them to the Unicode consortium's GSM0338.TXT mapping. Two choices the tables
leave open: 0x09 is drawn as `Ç` in the ETSI table and mapped to `ç` by Unicode, so both
count as one septet; a bare ESC (0x1B) is the escape to the extension table, never text.

A text is GSM-7 when every character is in either table; an extension character costs two
septets (ESC + code). One segment holds 160 septets; a longer text is split into segments
of 153 (the user data header takes the rest), and an escape pair is never split across two
of them. Any other character makes the whole text UCS-2: 70 UTF-16 code units in one
segment, 67 each when split, a surrogate pair (an emoji) costing two and never split.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

Encoding = Literal["gsm7", "ucs2"]

ESCAPE = 0x1B
SINGLE_SEGMENT: dict[Encoding, int] = {"gsm7": 160, "ucs2": 70}
MULTI_SEGMENT: dict[Encoding, int] = {"gsm7": 153, "ucs2": 67}


def _septet_table() -> dict[str, int]:
    table = {unicodedata.lookup(name): 1 for code, name in BASIC_CHARACTER_SET.items() if code != ESCAPE}
    table.update({unicodedata.lookup(name): 2 for name in BASIC_CHARACTER_SET_EXTENSION.values()})
    table["ç"] = 1  # Unicode maps 0x09 to the small c-cedilla, ETSI draws the capital: both are 0x09
    return table


SEPTETS: dict[str, int] = _septet_table()

# Characters phones and word processors put into texts that GSM-7 lacks, and the GSM-7
# text that reads the same. Anything not listed falls back to its compatibility form
# (NFKC: full-width letters, ligatures, odd spaces) or its letter without accents (NFD).
REPLACEMENTS: dict[str, str] = {
    **dict.fromkeys("‘’‚‛′ʼ´`", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    **dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t",
                    " "),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
    "…": "...",
    "•": "*",
    "·": ".",
    "‹": "<",
    "›": ">",
    "×": "x",
    "÷": "/",
    "½": "1/2",
    "¼": "1/4",
    "¾": "3/4",
    "©": "(c)",
    "®": "(R)",
    "ˆ": "^",
    "˜": "~",
    # the Greek capitals GSM 03.38 leaves to the Latin letters of the same shape
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
}


@dataclass(frozen=True, slots=True)
class SmsEncoding:
    """What a text costs to send.

    `characters` counts in the encoding's own units: septets for GSM-7 (an extension character
    counts 2), UTF-16 code units for UCS-2 (an emoji counts 2).
    """

    encoding: Encoding
    characters: int
    segments: int


@dataclass(frozen=True, slots=True)
class Ucs2Warning:
    """A character that forces UCS-2, and the GSM-7 text that would stand in for it (None: nothing does)."""

    character: str
    replacement: str | None
    count: int

    def to_api(self) -> dict[str, object]:
        return {
            "character": self.character,
            "codepoint": f"U+{ord(self.character):04X}",
            "name": unicodedata.name(self.character, "UNNAMED CHARACTER"),
            "replacement": self.replacement,
            "count": self.count,
        }


def is_gsm7(text: str) -> bool:
    return all(ch in SEPTETS for ch in text)


def measure(text: str) -> SmsEncoding:
    """The encoding, character count and segment count of `text`."""
    if is_gsm7(text):
        costs = [SEPTETS[ch] for ch in text]
        return SmsEncoding("gsm7", sum(costs), _segments(costs, "gsm7"))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SmsEncoding("ucs2", sum(costs), _segments(costs, "ucs2"))


def _segments(costs: list[int], encoding: Encoding) -> int:
    """Segments needed when no character's units may be split across two segments."""
    total = sum(costs)
    if total <= SINGLE_SEGMENT[encoding]:
        return 1 if total else 0
    size = MULTI_SEGMENT[encoding]
    segments, used = 1, 0
    for cost in costs:
        if used + cost > size:
            segments, used = segments + 1, 0
        used += cost
    return segments


def replacement(character: str) -> str | None:
    """GSM-7 text that reads as `character` does, or None when there is none."""
    if character in SEPTETS:
        return character
    if character in REPLACEMENTS:
        return REPLACEMENTS[character]
    compatible = unicodedata.normalize("NFKC", character)
    if compatible and compatible != character and is_gsm7(compatible):
        return compatible
    bare = "".join(ch for ch in unicodedata.normalize("NFD", character) if not unicodedata.combining(ch))
    if bare and bare != character and is_gsm7(bare):
        return bare
    return None


def ucs2_warnings(text: str) -> list[Ucs2Warning]:
    """Every distinct character of `text` outside GSM-7, in order of first appearance."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch not in SEPTETS:
            counts[ch] = counts.get(ch, 0) + 1
    return [Ucs2Warning(ch, replacement(ch), n) for ch, n in counts.items()]


def to_gsm7(text: str) -> str:
    """`text` with every replaceable character replaced (characters without a replacement stay)."""
    return "".join(ch if ch in SEPTETS else (replacement(ch) or ch) for ch in text)
