"""Bot classification and user-agent enrichment of click events (tracker.loader.enrichment)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.events import click
from tracker.loader import enrichment
from tracker.loader.enrichment import Enrichment, classify

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
SAMSUNG_INTERNET = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
    "Chrome/121.0.0.0 Mobile Safari/537.36"
)
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1"
)
IMESSAGE = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)

HUMAN_AGENTS = [
    pytest.param(IPHONE_SAFARI, "mobile", id="iphone-safari"),
    pytest.param(ANDROID_CHROME, "mobile", id="android-chrome"),
    pytest.param(SAMSUNG_INTERNET, "mobile", id="samsung-internet"),
    pytest.param(IPAD_SAFARI, "tablet", id="ipad-safari"),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "tablet",
        id="android-tablet-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        "mobile",
        id="iphone-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "mobile", id="android-firefox"
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "desktop",
        id="windows-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.2478.80",
        "desktop",
        id="windows-edge",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15",
        "desktop",
        id="mac-safari",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", id="win-firefox"
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "desktop",
        id="linux-chrome",
    ),
    # In-app browsers: a person tapped the link inside the app.
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/459.0.0.38.108;FBBV/589125218;FBDV/iPhone15,3;FBMD/iPhone;FBSN/iOS;"
        "FBSV/17.4.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/591036232]",
        "mobile",
        id="facebook-in-app-ios",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/122.0.6261.119 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/454.0.0.44.108;]",
        "mobile",
        id="facebook-in-app-android",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 Instagram 326.0.3.26.96 (iPhone15,2; iOS 17_4; en_US; en; scale=3.00; 1179x2556; 587224371)",
        "mobile",
        id="instagram-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 12; SM-G991B Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36 Line/14.2.1/IAB",
        "mobile",
        id="line-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 Snapchat/13.0.0.36 (like Safari/8617.2.4.10.8, panda)",
        "mobile",
        id="snapchat-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; 2201117TG Build/TKQ1.221114.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36 trill_330104 JsSdk/1.0 NetType/WIFI "
        "Channel/googleplay AppName/trill app_version/33.1.4 ByteLocale/en ByteFullLocale/en Region/US AppId/1180 "
        "Spark/1.4.8.3-bugfix AppVersion/33.1.4 BytedanceWebview/d8a21c6",
        "mobile",
        id="tiktok-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 Gmail/6.0.240317 (iPhone15,2; iOS 17.4; Scale/3.00)",
        "mobile",
        id="gmail-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 11; Pixel 5 Build/RQ3A.211001.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36",
        "mobile",
        id="android-webview",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 14; SM-S908B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/124.0.6367.54 Mobile Safari/537.36 Viber/21.6.0.0",
        "mobile",
        id="viber-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 [Pinterest/Android]",
        "mobile",
        id="pinterest-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 Outlook-iOS/723.4073749.prod.iphone (4.2415.0)",
        "mobile",
        id="outlook-in-app",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.39.90 "
        "Chrome/127.0.6533.72 Electron/13.1.9 Safari/537.36",
        "desktop",
        id="slack-desktop-app",
    ),
]

BOT_AGENTS = [
    # Link-preview fetchers of messaging and social apps.
    pytest.param(IMESSAGE, "link_preview:imessage", id="imessage"),
    pytest.param("WhatsApp/2.23.20.0 A", "link_preview:whatsapp", id="whatsapp-android"),
    pytest.param("WhatsApp/2.2407.3 i", "link_preview:whatsapp", id="whatsapp-ios"),
    pytest.param("WhatsApp/2", "link_preview:signal", id="signal"),
    pytest.param("TelegramBot (like TwitterBot)", "link_preview:telegram", id="telegram"),
    pytest.param("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "link_preview:slack", id="slack"),
    pytest.param("Slack-ImgProxy (+https://api.slack.com/robots)", "link_preview:slack", id="slack-imgproxy"),
    pytest.param(
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "link_preview:discord", id="discord"
    ),
    pytest.param("Twitterbot/1.0", "link_preview:twitter", id="twitter"),
    pytest.param(
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "link_preview:linkedin",
        id="linkedin",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        "link_preview:skype",
        id="skype",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36 "
        "Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/)",
        "link_preview:google_messages",
        id="google-messages",
    ),
    pytest.param("Viber", "link_preview:viber", id="viber"),
    pytest.param(
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "link_preview:facebook", id="fb"
    ),
    pytest.param("facebookexternalhit/1.1;line-poker/1.0", "link_preview:line", id="line"),
    pytest.param(
        "facebookexternalhit/1.1; kakaotalk-scrap/1.0; +https://devtalk.kakao.com/t/scrap/33984",
        "link_preview:kakaotalk",
        id="kakaotalk",
    ),
    pytest.param(
        "Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots",
        "link_preview:snapchat",
        id="snap",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
        "link_preview:pinterest",
        id="pinterest",
    ),
    pytest.param(
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; MicrosoftPreview/2.0; "
        "+https://aka.ms/MicrosoftPreview) Chrome/W.X.Y.Z Safari/537.36",
        "link_preview:microsoft",
        id="microsoft-preview",
    ),
    pytest.param(
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
        "link_preview:outlook",
        id="outlook",
    ),
    pytest.param(
        "Mastodon/4.2.8 (http.rb/5.1.1; +https://mastodon.social/) Bot", "link_preview:mastodon", id="mastodon"
    ),
    # Crawlers: named by crawlerdetect, not by our tables.
    pytest.param("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler", id="googlebot"),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "crawler",
        id="googlebot-smartphone",
    ),
    pytest.param("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "crawler", id="bingbot"),
    pytest.param("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "crawler", id="ahrefsbot"),
    pytest.param("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "crawler", id="yandexbot"),
    pytest.param("Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)", "crawler", id="applebot"),
    # Security, carrier and mail gateway scanners.
    pytest.param(
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        "scanner:bingpreview",
        id="bingpreview",
    ),
    pytest.param("Barracuda Sentinel (EE)", "scanner:barracuda", id="barracuda"),
    # Scripts, libraries and headless browsers.
    pytest.param("curl/8.5.0", "script:curl", id="curl"),
    pytest.param("Wget/1.21.4", "script:wget", id="wget"),
    pytest.param("python-requests/2.31.0", "script:python-requests", id="python-requests"),
    pytest.param("python-httpx/0.27.0", "script:python-httpx", id="python-httpx"),
    pytest.param("Python/3.11 aiohttp/3.9.5", "script:aiohttp", id="aiohttp"),
    pytest.param("Go-http-client/1.1", "script:go-http-client", id="go-http-client"),
    pytest.param("okhttp/4.12.0", "script:okhttp", id="okhttp"),
    pytest.param("Java/17.0.10", "script:java", id="java"),
    pytest.param("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "script:node-fetch", id="node-fetch"),
    pytest.param("axios/1.6.8", "script:axios", id="axios"),
    pytest.param("libwww-perl/6.76", "script:libwww-perl", id="libwww-perl"),
    pytest.param("PostmanRuntime/7.37.3", "script:postman", id="postman"),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 "
        "Safari/537.36",
        "script:headless_chrome",
        id="headless-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        "script:phantomjs",
        id="phantomjs",
    ),
    pytest.param(
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)", "script:dalvik", id="android-native"
    ),
]

REAL_AGENTS = [
    *(pytest.param(p.values[0], False, "", p.values[1], id=p.id) for p in HUMAN_AGENTS),
    *(pytest.param(p.values[0], True, p.values[1], "bot", id=p.id) for p in BOT_AGENTS),
]

REASON = re.compile(
    r"^(?:head_request|prefetch|empty_user_agent|crawler|spider|(?:link_preview|scanner|script):[a-z0-9_-]+)$"
)
DEVICE_TYPES = {"mobile", "tablet", "desktop", "bot", "other"}


def is_consistent(result: Enrichment) -> bool:
    """Humans have no reason and a real device; bots have a well-formed reason and device 'bot'."""
    if not result.is_bot:
        return result.bot_reason == "" and result.device_type in DEVICE_TYPES - {"bot"}
    return REASON.match(result.bot_reason) is not None and result.device_type == "bot"


@pytest.mark.parametrize(("user_agent", "is_bot", "bot_reason", "device_type"), REAL_AGENTS)
def test_real_user_agents_are_classified(user_agent: str, is_bot: bool, bot_reason: str, device_type: str) -> None:
    result = classify(user_agent)
    assert (result.is_bot, result.bot_reason, result.device_type) == (is_bot, bot_reason, device_type)


def test_the_real_agent_table_is_large_and_covers_both_humans_and_bots() -> None:
    assert len(REAL_AGENTS) >= 40
    assert len(HUMAN_AGENTS) >= 15 and len(BOT_AGENTS) >= 25


@pytest.mark.parametrize("user_agent", [p.values[0] for p in REAL_AGENTS])
def test_bot_reasons_are_machine_readable_and_humans_have_none(user_agent: str) -> None:
    assert is_consistent(classify(user_agent))


def test_imessage_combination_wins_over_plain_facebook_and_twitter() -> None:
    assert classify(IMESSAGE).bot_reason == "link_preview:imessage"
    assert classify("facebookexternalhit/1.1").bot_reason == "link_preview:facebook"
    assert classify("Twitterbot/1.0").bot_reason == "link_preview:twitter"


def test_in_app_tokens_are_not_mistaken_for_their_preview_fetchers() -> None:
    # Each app's fetcher starts with its name; its in-app browser only mentions it after a WebView agent.
    in_app_whatsapp = IPHONE_SAFARI + " WhatsApp/24.8.78"
    assert classify(in_app_whatsapp).is_bot is False
    assert classify("Viber/21.0.0").bot_reason == "link_preview:viber"
    assert classify("Pinterest/0.2 (+http://www.pinterest.com/bot.html)").bot_reason == "link_preview:pinterest"


def test_an_in_app_browser_agent_that_announces_a_url_is_a_crawler() -> None:
    # Browsers never put a URL in their agent; crawlers say where to read about them.
    viber_in_app = IPHONE_SAFARI + " Viber/21.6.0.0"
    assert classify(viber_in_app).is_bot is False
    assert classify(viber_in_app + " (+https://crawler.example/about)").bot_reason == "crawler"


def test_head_request_is_a_bot_even_from_a_phone_browser() -> None:
    result = classify(IPHONE_SAFARI, method="HEAD")
    assert result == Enrichment(True, "head_request", "bot", "iOS", "Mobile Safari")


@pytest.mark.parametrize("method", ["head", " HEAD "])
def test_head_is_recognised_in_any_case(method: str) -> None:
    assert classify(ANDROID_CHROME, method=method).bot_reason == "head_request"


def test_phone_webview_that_also_passes_the_tablet_test_is_a_phone() -> None:
    webview = (
        "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0.6099.230 Mobile"
    )
    assert classify(webview).device_type == "mobile"


def test_get_from_a_phone_browser_is_human() -> None:
    assert classify(ANDROID_CHROME, method="GET") == Enrichment(False, "", "mobile", "Android", "Chrome Mobile")


@pytest.mark.parametrize(
    "purpose", ["prefetch", "prefetch;prerender", "Prefetch", "prerender", "prefetch;anonymous-client-ip"]
)
def test_prefetch_purpose_makes_the_click_a_bot(purpose: str) -> None:
    result = classify(ANDROID_CHROME, purpose=purpose)
    assert (result.is_bot, result.bot_reason, result.device_type) == (True, "prefetch", "bot")
    assert (result.os, result.browser) == ("Android", "Chrome Mobile")


@pytest.mark.parametrize("purpose", ["", "navigate", "preview"])
def test_other_purpose_values_leave_a_human_human(purpose: str) -> None:
    assert classify(ANDROID_CHROME, purpose=purpose).is_bot is False


def test_head_is_reported_before_prefetch() -> None:
    assert classify(IPHONE_SAFARI, method="HEAD", purpose="prefetch").bot_reason == "head_request"


def test_prefetch_is_reported_before_the_agents_own_reason() -> None:
    assert classify("curl/8.5.0", purpose="prefetch").bot_reason == "prefetch"


@pytest.mark.parametrize("user_agent", ["", "   ", "\t\r\n"])
def test_empty_user_agent_is_a_bot(user_agent: str) -> None:
    assert classify(user_agent) == Enrichment(True, "empty_user_agent", "bot", "", "")


GARBAGE = [
    pytest.param("a" * 10_240, id="10kb-letters"),
    pytest.param("(" * 10_240, id="10kb-parens"),
    pytest.param("Mozilla/5.0 (" + "Linux; Android " * 1_000, id="repeated-tokens"),
    pytest.param("\x00\x01\x7f\r\n\t" * 1_000, id="control-chars"),
    pytest.param("Моzilla/5.0 (iPhone; 中文; 🙂) " * 300, id="non-ascii"),
    pytest.param("\ud800\udfff" * 100, id="lone-surrogates"),
    pytest.param("Mozilla/5.0 (compatible; " + "bot " * 2_000, id="bot-words"),
]


@pytest.mark.parametrize("user_agent", GARBAGE)
def test_huge_or_garbage_agents_do_not_raise(user_agent: str) -> None:
    assert is_consistent(classify(user_agent))


def test_agents_are_cut_to_512_characters_before_parsing() -> None:
    enrichment._classify_agent.cache_clear()
    classify(IPHONE_SAFARI + " " * 600 + "x" * 600)
    classify(IPHONE_SAFARI + " " * 600 + "y" * 600)
    # Both share their first 512 characters, so the second is served from the cache.
    assert enrichment._classify_agent.cache_info().hits == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2_000), st.sampled_from(["GET", "HEAD", "get", ""]), st.text(max_size=50))
def test_any_string_classifies_without_raising(user_agent: str, method: str, purpose: str) -> None:
    assert is_consistent(classify(user_agent, method, purpose))


@pytest.mark.parametrize(
    ("user_agent", "os", "browser"),
    [
        (IPHONE_SAFARI, "iOS", "Mobile Safari"),
        (ANDROID_CHROME, "Android", "Chrome Mobile"),
        (SAMSUNG_INTERNET, "Android", "Samsung Internet"),
        (IPAD_SAFARI, "iOS", "Mobile Safari"),
    ],
)
def test_phones_get_os_and_browser_families(user_agent: str, os: str, browser: str) -> None:
    result = classify(user_agent)
    assert (result.os, result.browser) == (os, browser)


def test_bots_keep_the_os_and_browser_the_parser_finds() -> None:
    assert (classify(IMESSAGE).os, classify("curl/8.5.0").browser) == ("Mac OS X", "curl")


def test_unknown_families_are_empty_not_other() -> None:
    result = classify("definitely not a browser")
    assert (result.os, result.browser) == ("", "")


def test_repeated_calls_hit_the_cache_whatever_the_method_and_purpose() -> None:
    enrichment._classify_agent.cache_clear()
    first = classify(SAMSUNG_INTERNET)
    assert classify(SAMSUNG_INTERNET) is first
    classify(SAMSUNG_INTERNET, method="HEAD")
    classify(SAMSUNG_INTERNET, purpose="prefetch")
    info = enrichment._classify_agent.cache_info()
    assert (info.misses, info.hits) == (1, 3)
    assert info.maxsize == 65536


def test_enrichment_is_immutable() -> None:
    result = classify(IPHONE_SAFARI)
    with pytest.raises(AttributeError):  # a NamedTuple's fields cannot be set
        result.is_bot = True  # type: ignore[misc]


def test_an_enrichment_is_a_tuple_in_the_order_of_the_clicks_columns_it_fills() -> None:
    # The loader's row takes an Enrichment as it is (tracker/loader/rows.py).
    assert Enrichment._fields == click.ENRICHED
    assert tuple(classify(IPHONE_SAFARI)) == tuple(getattr(classify(IPHONE_SAFARI), name) for name in click.ENRICHED)
