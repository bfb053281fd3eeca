"""Bot detection against public lists nobody here wrote, next to isbot (the most used detector).

The samples are vendored in tests/references/bots/ with isbot's verdict for every agent, recorded
by `loadtest/references.py` (which measures the full lists, and isbot itself, from npm and PyPI).
"""

from __future__ import annotations

import pytest

from loadtest.references import AgentList, recorded_isbot, sample_lists
from tracker.loader.enrichment import classify

SAMPLES = {agent_list.name: agent_list for agent_list in sample_lists()}
BOT_LISTS = [a for a in SAMPLES.values() if a.kind == "bots"]
BROWSER_LISTS = [a for a in SAMPLES.values() if a.kind == "browsers"]


def test_there_are_three_independent_crawler_lists_and_three_browser_lists():
    assert {a.name for a in BOT_LISTS} == {"crawler-user-agents", "matomo-bots", "crawlerdetect-crawlers"}
    assert {a.name for a in BROWSER_LISTS} == {"user-agents-npm", "matomo-browser-navigations", "in-app-browsers"}
    assert all(len(a.agents) > 100 for a in SAMPLES.values())


@pytest.mark.parametrize("crawlers", BOT_LISTS, ids=lambda a: a.name)
def test_every_crawler_isbot_catches_we_catch_too(crawlers: AgentList):
    isbot = recorded_isbot(crawlers)
    ours = [classify(agent).is_bot for agent in crawlers.agents]
    assert [a for a, theirs, mine in zip(crawlers.agents, isbot, ours, strict=True) if theirs and not mine] == []
    assert sum(ours) >= sum(isbot) > 0.95 * len(crawlers.agents)


@pytest.mark.parametrize("browsers", BROWSER_LISTS, ids=lambda a: a.name)
def test_we_flag_no_real_browser_that_isbot_lets_through(browsers: AgentList):
    isbot = recorded_isbot(browsers)
    flagged = [(a, classify(a).bot_reason) for a, theirs in zip(browsers.agents, isbot, strict=True)
               if classify(a).is_bot and not theirs]
    assert flagged == []


@pytest.mark.parametrize("name", ["user-agents-npm", "in-app-browsers"])
def test_no_agent_of_real_browser_traffic_or_of_an_in_app_browser_is_a_bot(name: str):
    flagged = [(a, classify(a).bot_reason) for a in SAMPLES[name].agents if classify(a).is_bot]
    assert flagged == []


def test_the_in_app_sample_covers_the_apps_people_tap_links_in():
    agents = SAMPLES["in-app-browsers"].agents
    tokens = {"WhatsApp/": "WhatsApp", "Instagram ": "Instagram", "FBAN/": "Facebook iOS", "FB_IAB": "Facebook Android",
              "musical_ly": "TikTok", "trill_": "TikTok", "Snapchat/": "Snapchat", " Line/": "LINE",
              "MicroMessenger/": "WeChat", "; wv)": "Android WebView"}
    missing = {app for token, app in tokens.items() if not any(token in agent for agent in agents)}
    assert missing == set()
    ios_webview = [a for a in agents if a.startswith("Mozilla/5.0 (iPhone") and "Safari/" not in a]
    assert len(ios_webview) >= 5
