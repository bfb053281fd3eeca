"""The http(s) URLs written in a message text, found as a reader would see them.

Recognition is linkify-it's (the linkifier of markdown-it): it leaves trailing sentence
punctuation and unbalanced brackets out of a URL. Only links written with their scheme
count (`shop.example` alone is left alone), and a closing typographic quote or guillemet
right after a URL ends it, as the ASCII quote does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkify_it import LinkifyIt

SCHEMES = ("http:", "https:")
_CLOSERS = "”’»›"
_LINKIFY = LinkifyIt(options={"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})


@dataclass(frozen=True, slots=True)
class UrlSpan:
    """A URL in a text: `text[start:end] == url`."""

    start: int
    end: int
    url: str


def find_urls(text: str) -> list[UrlSpan]:
    """The http and https URLs of `text`, in order."""
    spans = []
    for match in _LINKIFY.match(text) or ():
        if match.schema.lower() not in SCHEMES:
            continue
        end = match.last_index
        while end > match.index and text[end - 1] in _CLOSERS:
            end -= 1
        spans.append(UrlSpan(match.index, end, text[match.index:end]))
    return spans


def replace_urls(text: str, spans: Sequence[UrlSpan], replacements: Sequence[str]) -> str:
    """`text` with each span replaced by the replacement at the same position."""
    pieces, position = [], 0
    for span, replacement in zip(spans, replacements, strict=True):
        pieces += [text[position:span.start], replacement]
        position = span.end
    pieces.append(text[position:])
    return "".join(pieces)
