"""User-agent enrichment and bot classification of click events.

The event loader calls `classify` once per click, off the redirect's hot path. A text
message's link is fetched by far more machines than people: the recipient's messaging app
unfurls it, chat apps do the same when it is forwarded, carriers and mail gateways scan
it, and scripts probe it. Counting those as clicks would inflate click-through and poison
attribution, so every event gets `is_bot` plus a short machine-readable `bot_reason` that
says *which* machine, letting reports drop bots yet still show "42 WhatsApp previews".

Reasons, in the order they are checked (the first that applies wins):

- ``head_request``: the click was a HEAD; link scanners and unfurlers probe with HEAD,
  a browser following a link never does.
- ``prefetch``: a ``Sec-Purpose``/``Purpose`` header asked for a prefetch or prerender;
  the browser is guessing, the person has not tapped yet.
- ``empty_user_agent``: every browser and in-app WebView sends one.
- ``link_preview:<app>``: an SMS, chat or social app fetching the page to draw a card.
- ``scanner:<name>``: a security, carrier or e-mail gateway checking the link.
- ``script:<name>``: an HTTP library, command-line tool or headless browser.
- ``crawler``: anything else one of two maintained public lists knows: isbot's patterns and
  CrawlerDetect's (see `tracker.loader.crawler_lists`).
- ``spider``: anything else ua-parser itself files as a spider.

Between our tables and the public lists sits a short list of in-app browsers whose app name
those lists use for the app's own fetcher (`WhatsApp`, `Viber`, `Outlook-iOS`, `Slack/`): a person
who taps a link in WhatsApp's in-app browser is a person. It never applies to an agent that
announces a URL, as crawlers do and browsers never do. How all this agrees with public crawler
lists and real browsers, next to isbot (the most used detector), is measured by
`loadtest/references.py` and checked on vendored samples by the tests.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, NamedTuple

from user_agents import parse as parse_user_agent
from user_agents.parsers import UserAgent

from tracker.loader.crawler_lists import is_listed_crawler

__all__ = ["Enrichment", "classify"]

# Real agents stay well under this; the cut bounds both parsing time and the cache's memory
# when someone sends kilobytes of garbage.
_MAX_USER_AGENT_LENGTH: Final = 512


class Enrichment(NamedTuple):
    """What the loader stores next to a click: who (or what) followed the link. A tuple in the order of the
    clicks columns it fills (`tracker.events.click.ENRICHED`), so a row takes it as it is."""

    is_bot: bool
    bot_reason: str  # '' for humans, else one of the reasons in the module docstring
    device_type: str  # 'mobile' | 'tablet' | 'desktop' | 'bot' | 'other'
    os: str  # ua-parser's OS family ('iOS', 'Android', 'Mac OS X', ...), '' if unknown
    browser: str  # ua-parser's browser family ('Mobile Safari', 'Chrome Mobile', ...), '' if unknown


# Each table is (regular expression, reason), searched case-insensitively in this order, and the
# first match wins, so a more specific pattern must come before any broader one that also matches.
_LINK_PREVIEWS: Final[tuple[tuple[str, str], ...]] = (
    # iMessage (Messages on iOS/macOS) presents itself as all three of these at once; plain
    # facebookexternalhit is Facebook, so this combination has to be tried first.
    (r"facebookexternalhit/[\d.]+ Facebot Twitterbot/", "link_preview:imessage"),
    # LINE, KakaoTalk and NAVER wrap their scrapers in a facebookexternalhit agent.
    (r"line-poker", "link_preview:line"),
    (r"kakaotalk-scrap", "link_preview:kakaotalk"),
    (r"Blueno/", "link_preview:naver"),
    (r"facebookexternalhit|facebookcatalog|\bFacebot\b|meta-externalfetcher", "link_preview:facebook"),
    # Signal fetches previews on the sender's device and borrows WhatsApp's name without a
    # version; WhatsApp's own fetcher always sends one ('WhatsApp/2.23.20.0 A').
    (r"^WhatsApp/2$", "link_preview:signal"),
    # Anchored: only the fetcher *starts* with WhatsApp/.
    (r"^WhatsApp/", "link_preview:whatsapp"),
    (r"TelegramBot", "link_preview:telegram"),
    (r"Slackbot|Slack-ImgProxy|Slack-LinkExpanding", "link_preview:slack"),
    (r"Discordbot", "link_preview:discord"),
    (r"Twitterbot", "link_preview:twitter"),
    (r"LinkedInBot", "link_preview:linkedin"),
    # Skype's unfurler; Teams has reused it for years.
    (r"SkypeUriPreview", "link_preview:skype"),
    # Microsoft's shared preview service behind Teams, Outlook and Copilot cards; the agent
    # does not say which product asked.
    (r"MicrosoftPreview", "link_preview:microsoft"),
    # Outlook's own fetches; its in-app browser starts 'Mozilla/5.0 (' and is human.
    (r"^Outlook-(?:iOS|Android)/|Microsoft Outlook", "link_preview:outlook"),
    (r"\bms-office\b|Microsoft Office (?:Existence|Protocol) Discovery", "link_preview:microsoft_office"),
    # Google Messages (Android's default SMS/RCS app) unfurls links through Google's servers.
    (r"Google-PageRenderer|GoogleMessages", "link_preview:google_messages"),
    # Anchored: Viber's in-app browser appends 'Viber/<version>' to a normal WebView agent.
    (r"^Viber\b", "link_preview:viber"),
    (r"Snap URL Preview", "link_preview:snapchat"),
    # '^Pinterest/0.2' is the fetcher; the in-app browser says '[Pinterest/iOS]'.
    (r"Pinterestbot|^Pinterest/\d", "link_preview:pinterest"),
    (r"redditbot", "link_preview:reddit"),
    (r"^Mastodon/", "link_preview:mastodon"),
    (r"Bluesky Cardyb", "link_preview:bluesky"),
    (r"vkShare", "link_preview:vk"),
)

_SCANNERS: Final[tuple[tuple[str, str], ...]] = (
    # Outlook.com and Defender open links in a Bing-driven sandbox before the mailbox owner does.
    (r"BingPreview", "scanner:bingpreview"),
    (r"safelinks", "scanner:microsoft_safelinks"),
    (r"proofpoint", "scanner:proofpoint"),
    (r"mimecast", "scanner:mimecast"),
    (r"barracuda", "scanner:barracuda"),
    (r"forcepoint", "scanner:forcepoint"),
    (r"symantec", "scanner:symantec"),
    (r"trend ?micro", "scanner:trendmicro"),
    (r"ironport", "scanner:cisco_ironport"),
    (r"Google-Safety", "scanner:google_safety"),
    (r"urlscan", "scanner:urlscan"),
    (r"virustotal", "scanner:virustotal"),
)

_SCRIPTS: Final[tuple[tuple[str, str], ...]] = (
    # Headless browsers otherwise look exactly like the desktop browser they embed.
    (r"HeadlessChrome", "script:headless_chrome"),
    (r"PhantomJS", "script:phantomjs"),
    (r"\bPycURL/", "script:pycurl"),
    (r"\b(?:lib)?curl/", "script:curl"),
    (r"\bWget/", "script:wget"),
    (r"python-requests/", "script:python-requests"),
    (r"python-httpx/", "script:python-httpx"),
    (r"aiohttp/", "script:aiohttp"),
    (r"Python-urllib/", "script:python-urllib"),
    (r"Go-http-client/", "script:go-http-client"),
    (r"okhttp/", "script:okhttp"),
    (r"Apache-HttpClient/", "script:apache-httpclient"),
    (r"^Java/", "script:java"),
    (r"node-fetch/", "script:node-fetch"),
    (r"axios/", "script:axios"),
    (r"^undici\b", "script:undici"),
    # Node's built-in fetch sends just this.
    (r"^node$", "script:node"),
    (r"^got \(", "script:got"),
    (r"libwww-perl/", "script:libwww-perl"),
    (r"PostmanRuntime/", "script:postman"),
    (r"insomnia/", "script:insomnia"),
    (r"HTTPie/", "script:httpie"),
    (r"GuzzleHttp/", "script:guzzle"),
    (r"^Faraday v", "script:faraday"),
    (r"^Ruby$", "script:ruby"),
    (r"^Dart/", "script:dart"),
    (r"^Deno/", "script:deno"),
    (r"^Bun/", "script:bun"),
    # The native HTTP stacks of Android and iOS apps. A tap always reaches us through a browser
    # engine (Safari, Chrome, a WebView) whose agent starts 'Mozilla/5.0', never through these.
    (r"^Dalvik/", "script:dalvik"),
    (r"\bCFNetwork/", "script:cfnetwork"),
)

# In-app browsers of real people whose app token the public lists' unanchored patterns catch
# ('WhatsApp', 'Viber', 'Outlook-iOS', 'Slack/'). Checked after our own tables, so a known fetcher
# or script is still a bot; it only stops the generic lists from calling these people bots.
_IN_APP_BROWSERS: Final[tuple[str, ...]] = (
    r"^Mozilla/5\.0 \(.*\bWhatsApp/[\d.]+",
    r"^Mozilla/5\.0 \(.*\bViber/[\d.]+",
    r"^Mozilla/5\.0 \(.*\bOutlook-(?:iOS|Android)/",
    r"^Mozilla/5\.0 \(.*\bSlack/[\d.]+ .*\bElectron/",
)

_BOT_RULES: Final = tuple(
    (re.compile(pattern, re.IGNORECASE), reason) for pattern, reason in (*_LINK_PREVIEWS, *_SCANNERS, *_SCRIPTS)
)
_IN_APP_BROWSER: Final = re.compile("|".join(f"(?:{pattern})" for pattern in _IN_APP_BROWSERS), re.IGNORECASE)
# Crawlers announce where to read about them; a browser's agent never carries a URL.
_ANNOUNCES_URL: Final = re.compile(r"https?://|\bwww\.", re.IGNORECASE)
_PREFETCH: Final = re.compile(r"prefetch|prerender", re.IGNORECASE)


def classify(user_agent: str, method: str = "GET", purpose: str = "") -> Enrichment:
    """Classify one click from its User-Agent, HTTP method and Sec-Purpose/Purpose header.

    Only the agent is worth caching: a campaign's clicks come from a few thousand distinct
    agents, while method and purpose are cheap string checks applied on top of the cached
    result, so they never split the cache.
    """
    agent = _classify_agent((user_agent or "").strip()[:_MAX_USER_AGENT_LENGTH])
    if (method or "").strip().upper() == "HEAD":
        return _as_bot(agent, "head_request")
    if purpose and _PREFETCH.search(purpose):
        return _as_bot(agent, "prefetch")
    return agent


@lru_cache(maxsize=65536)
def _classify_agent(agent: str) -> Enrichment:
    """Classify an already stripped and truncated agent; see `classify`."""
    if not agent:
        return Enrichment(is_bot=True, bot_reason="empty_user_agent", device_type="bot", os="", browser="")
    parsed = parse_user_agent(agent)
    os_family = _family(parsed.os.family)
    browser = _family(parsed.browser.family)
    reason = _bot_reason(agent, parsed)
    if reason:
        return Enrichment(is_bot=True, bot_reason=reason, device_type="bot", os=os_family, browser=browser)
    return Enrichment(is_bot=False, bot_reason="", device_type=_device_type(parsed), os=os_family, browser=browser)


def _bot_reason(agent: str, parsed: UserAgent) -> str:
    """The most specific reason this agent is a machine, or '' for a person.

    Our own tables go first because they name the app; the generic lists only say "bot".
    """
    for pattern, reason in _BOT_RULES:
        if pattern.search(agent):
            return reason
    if _IN_APP_BROWSER.search(agent) and not _ANNOUNCES_URL.search(agent):
        return ""
    if is_listed_crawler(agent):
        return "crawler"
    if parsed.is_bot:
        return "spider"
    return ""


def _device_type(parsed: UserAgent) -> str:
    # is_mobile first: user-agents' Android tablet test only asks that 'Mobile Safari' be absent,
    # so some phone WebViews pass both tests, and the mobile test is the stricter of the two.
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_pc:
        return "desktop"
    return "other"


def _family(family: str | None) -> str:
    # ua-parser says 'Other' when it does not know; an empty column is easier to filter on.
    return "" if not family or family == "Other" else family


def _as_bot(agent: Enrichment, reason: str) -> Enrichment:
    """Turn a (possibly human-looking) agent into a bot for a reason found outside the agent."""
    return Enrichment(is_bot=True, bot_reason=reason, device_type="bot", os=agent.os, browser=agent.browser)
