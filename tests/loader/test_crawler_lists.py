"""The public crawler lists, compiled for RE2, decide as the libraries that carry them do."""

from __future__ import annotations

import re

import pytest
from crawlerdetect import CrawlerDetect
from is_bot import Bots

from loadtest.references import sample_lists
from tracker.loader.crawler_lists import is_listed_crawler, without_lookaround

AGENTS = [agent for agent_list in sample_lists() for agent in agent_list.agents]
BROWSER_PLATFORM = re.compile(r"^Mozilla/5\.0 \((?![^)]*compatible)[^)]*\)")


@pytest.mark.parametrize(
    ("pattern", "superset"),
    [
        ("(?:^|[^g])news(?!sapphire)", "(?:^|[^g])news"),
        ("(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))", "google"),
        ("(?<! cu)bots?(?:\\b|_)", "bots?(?:\\b|_)"),
        ("Yandex(?!Search)", "Yandex"),
        ("a\\(?!b", "a\\(?!b"),  # an escaped parenthesis is no look-ahead
        ("plain/\\d+", "plain/\\d+"),
    ],
)
def test_lookarounds_are_removed_for_the_re2_prefilter(pattern: str, superset: str):
    assert without_lookaround(pattern) == superset


def test_the_compiled_lists_agree_with_isbot_and_crawlerdetect_themselves():
    """Same verdicts as the libraries' own matching, wherever the device-name rule below does not apply."""
    isbot, crawlerdetect = Bots(), CrawlerDetect()
    checked = [a for a in AGENTS if not BROWSER_PLATFORM.match(a) or isbot.is_bot(a)]
    assert len(checked) > 1000
    disagree = [a for a in checked if is_listed_crawler(a) != (isbot.is_bot(a) or crawlerdetect.is_crawler(a))]
    assert disagree == []


@pytest.mark.parametrize(
    "phone",
    [
        "Mozilla/5.0 (Linux; Android 6.0; SMART 4G Speedy 5.0 Plus Build/MRA58K) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/44.0.2403.119 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; AUPO Zeus 10 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/122.0.6261.119 Safari/537.36 OPR/81.2.4292.78581",
        "Mozilla/5.0 (Linux; U; Android 4.2.2; ru-ru; CRONY-7021 Build/JDQ39) AppleWebKit/534.30 (KHTML, like Gecko) "
        "Version/4.0 Mobile Safari/534.30",
    ],
)
def test_a_phone_named_like_a_crawler_is_not_one(phone: str):
    assert CrawlerDetect().is_crawler(phone)  # CrawlerDetect reads the device name as a crawler's
    assert not is_listed_crawler(phone)


def test_a_crawler_naming_itself_compatible_in_the_platform_comment_is_still_read():
    assert is_listed_crawler("Mozilla/5.0 (compatible; Speedy Spider; http://www.entireweb.com/about/search_tech/)")
    assert is_listed_crawler("Mozilla/5.0 (compatible; Zeus 32297 Webster Pro V2.9 Win32)")


def test_agents_that_are_not_utf_8_are_matched_too():
    assert is_listed_crawler("Googlebot/2.1 \ud800")
    assert not is_listed_crawler("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \udfff")
