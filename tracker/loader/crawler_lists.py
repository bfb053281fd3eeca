"""The maintained public crawler lists, compiled once, matched in microseconds per agent.

Two lists kept up to date by others, read from their PyPI packages (pinned in pyproject.toml):

- isbot's patterns: the most used detector (npm `isbot`); the PyPI package `is-bot` carries them
  unchanged. Besides named crawlers they catch what bots have in common (a URL or an e-mail
  address in the agent, `bot`, `crawl`, `scan`, a bare `name/version`, ...), which is why isbot
  finds crawlers no list names yet.
- CrawlerDetect (JayBizzle): 1,400 crawler patterns, matched after its exclusions (tokens that
  real browsers carry, such as `Safari/537.36`) are removed from the agent, and not in the
  platform comment of a browser's agent (`Mozilla/5.0 (Linux; Android 14; <device>)`): device
  names are words manufacturers choose, and a name list trips on them (phones called `Speedy`,
  `Zeus`, `Astute`, `CRONY-7021` are crawlers `Speedy`, `Zeus`, `Astute`, `CRON` to it). A
  crawler that calls itself `compatible` there is still read.

crawler-user-agents (PyPI `crawler-user-agents`) is not used to decide: its unanchored name
patterns match device and browser names in real agents (`Sonic` in ViewSonic tablets, `Butterfly`
in HTC phones, `Sogou` in Sogou's browser, even the Android build `AP3A.240617.008` of many
phones). It is one of the independent lists `loadtest/references.py` measures us against.

Hundreds of patterns in one alternation are slow in Python's `re` (it tries each one at every
position) but a single automaton in RE2 (`google-re2`), which runs in time linear in the agent.
RE2 has no look-around, so the few patterns that use it run in Python's `re` (or `regex`, for a
variable-width look-behind), and only on agents where the same pattern without its look-arounds,
a superset that RE2 can run, matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import re2
import regex
from crawlerdetect.providers.crawlers import data as crawlerdetect_patterns
from crawlerdetect.providers.exclusions import data as crawlerdetect_exclusions
from is_bot._patterns import default_patterns as isbot_patterns

__all__ = ["is_listed_crawler"]

_LOOKAROUND: Final = re.compile(r"\(\?<?[=!]")
# Room for the automaton of a thousand alternatives (RE2 falls back to a slower engine past it).
_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.max_mem = 32 << 20


def _alternation(patterns: Iterable[str]) -> str:
    return "|".join(f"(?:{pattern})" for pattern in patterns)


def without_lookaround(pattern: str) -> str:
    """The pattern with its look-around groups removed: it matches wherever the pattern does (and more)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif _LOOKAROUND.match(pattern, i):
            depth = 0
            while i < len(pattern):
                if pattern[i] == "\\":
                    i += 1
                elif pattern[i] == "(":
                    depth += 1
                elif pattern[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _LookaroundPattern:
    """One pattern RE2 cannot run: `prefilter` (RE2, a superset) decides whether `exact` has to run."""

    prefilter: Callable[[str], object] | None
    exact: Callable[[str], object]

    @classmethod
    def compile(cls, pattern: str) -> _LookaroundPattern:
        try:
            exact = re.compile(pattern, re.IGNORECASE).search
        except re.error:  # a variable-width look-behind
            exact = regex.compile(pattern, regex.IGNORECASE).search
        try:
            prefilter = re2.compile("(?i)" + without_lookaround(pattern), _RE2_OPTIONS).search
        except re2.error:
            prefilter = None
        return cls(prefilter, exact)

    def search(self, agent: str) -> bool:
        return (self.prefilter is None or self.prefilter(agent) is not None) and self.exact(agent) is not None


class _Matcher:
    """Case-insensitive patterns: one RE2 automaton for those RE2 can run, prefiltered look-around for the others."""

    def __init__(self, patterns: Iterable[str]) -> None:
        unique = sorted(set(patterns))
        plain = [p for p in unique if not _LOOKAROUND.search(p)]
        self._plain = re2.compile("(?i)" + (_alternation(plain) or "$^"), _RE2_OPTIONS).search
        self._lookaround = tuple(_LookaroundPattern.compile(p) for p in unique if _LOOKAROUND.search(p))

    def search(self, agent: str) -> bool:
        return self._plain(agent) is not None or any(pattern.search(agent) for pattern in self._lookaround)


_ISBOT: Final = _Matcher(isbot_patterns)
_CRAWLERDETECT: Final = _Matcher(crawlerdetect_patterns)
_CRAWLERDETECT_EXCLUSIONS: Final = re.compile(_alternation(crawlerdetect_exclusions), re.IGNORECASE)
_BROWSER_PLATFORM: Final = re.compile(r"^Mozilla/5\.0 \((?![^)]*compatible)[^)]*\)")


def is_listed_crawler(agent: str) -> bool:
    """Whether either list calls this user agent a crawler."""
    if not agent.isascii():  # RE2 reads UTF-8, which lone surrogates (a JSON escape away) are not
        agent = agent.encode("utf-8", "replace").decode("utf-8")
    if _ISBOT.search(agent):
        return True
    rest = _CRAWLERDETECT_EXCLUSIONS.sub("", _BROWSER_PLATFORM.sub("Mozilla/5.0 ()", agent, count=1))
    return bool(rest) and _CRAWLERDETECT.search(rest)
