"""How far we agree with public references nobody here wrote: the URL standard's tests and bot lists.

    .venv/bin/python loadtest/references.py            # both figures, as markdown tables
    .venv/bin/python loadtest/references.py --urls     # only the URL suite
    .venv/bin/python loadtest/references.py --bots     # only the bot lists

URL suite: every absolute http(s) input of web-platform-tests' `urltestdata.json` (vendored in
`tests/references/wpt/`) is made into a link and redirected through the functions the edge uses
(`LinkDraft.from_json`, `Link`, `TargetCompiler`); each outcome is `exact` (the `Location` is the
standard's `href` with our `utm_*` and click id added, nothing else changed), `refused` (the
standard rejects the input, or we refuse it for one of the documented `shortlinks.destination`
policy reasons) or `wrong` (anything else).

Bots: recall on public crawler lists and false positives on real browsers, ours next to `isbot`'s
(npm), the most used detector. The full lists come from the registries: the `crawler-user-agents`
and `device-detector` (matomo) wheels from PyPI, `isbot` and `user-agents` from npm, installed
into a temporary folder (never into the project). Without npm or network, the vendored samples
in `tests/references/bots/` are measured instead, with isbot's recorded verdicts.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_plus

REFERENCES = Path(__file__).resolve().parent.parent / "tests" / "references"
URL_TEST_DATA = REFERENCES / "wpt" / "urltestdata.json"
BOT_SAMPLES = REFERENCES / "bots"
SUITE_UTM = {"source": "wpt", "campaign": "urltestdata"}
CLICK_PARAM = "sclid"

# The URL parser drops these before it reads an input (leading/trailing C0 controls and spaces, and
# every tab and newline); we need the input as the parser sees it only to know its scheme.
_STRIPPED = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


@dataclass(frozen=True, slots=True)
class UrlCase:
    input: str
    href: str | None  # None: the standard rejects the input


def url_cases(path: Path = URL_TEST_DATA) -> list[UrlCase]:
    """The suite's absolute http(s) inputs: those whose result does not depend on the test's base URL.

    An entry's base matters only when its scheme is the input's and the input's scheme is not
    followed by two slashes (`http:foo.com` against `http://example.org/` is relative); those are
    left out, since a destination has no base. Inputs listed twice (with different bases) count once.
    """
    cases: dict[str, UrlCase] = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        if not isinstance(entry, dict):
            continue  # the file's comments are plain strings
        raw = entry["input"]
        seen = _TAB_NEWLINE.sub("", _STRIPPED.sub("", raw))
        match = _SCHEME.match(seen)
        if not match or match[1].lower() not in ("http", "https"):
            continue
        base = entry.get("base")
        rest = seen[match.end():]
        if base and base.split(":", 1)[0].lower() == match[1].lower() and not re.match(r"[/\\]{2}", rest):
            continue
        cases.setdefault(raw, UrlCase(raw, None if entry.get("failure") else entry["href"]))
    return list(cases.values())


def expected_location(href: str, params: Iterable[tuple[str, str]]) -> str:
    """`href` with `params` added to its query (replacing parameters of the same names), fragment kept."""
    params = list(params)
    names = {name for name, _ in params}
    base, hash_mark, fragment = href.partition("#")
    path, _, query = base.partition("?")
    kept = [seg for seg in query.split("&") if seg and unquote_plus(seg.partition("=")[0]) not in names]
    return f"{path}?{'&'.join(kept + [f'{name}={value}' for name, value in params])}{hash_mark}{fragment}"


def suite_params(click_id: str) -> list[tuple[str, str]]:
    return [(f"utm_{key}", value) for key, value in SUITE_UTM.items()] + [(CLICK_PARAM, click_id)]


@dataclass(frozen=True, slots=True)
class UrlOutcome:
    case: UrlCase
    verdict: str  # 'exact' | 'refused' | 'wrong'
    detail: str  # the refusal reason, or what was wrong
    location: str | None = None  # what the product sent, if it accepted the input


def judge(case: UrlCase, location: str | None, reason: str, click_id: str, policy: Iterable[str]) -> UrlOutcome:
    """Judge one case from what the product did: a `location`, or a refusal with `reason`."""
    if location is None:
        if case.href is None:
            return UrlOutcome(case, "refused", "rejected by the standard")
        if reason in policy:
            return UrlOutcome(case, "refused", reason)
        return UrlOutcome(case, "wrong", f"valid URL refused ({reason})")
    if case.href is None:
        return UrlOutcome(case, "wrong", "accepted an input the standard rejects", location)
    expected = expected_location(case.href, suite_params(click_id))
    if location == expected:
        return UrlOutcome(case, "exact", "", location)
    what = "host" if _host(location) != _host(expected) else "URL"
    return UrlOutcome(case, "wrong", f"different {what}: {location!r}, the standard says {expected!r}", location)


def _host(url: str) -> str:
    return url.partition("//")[2].partition("/")[0]


def redirect_location(destination: str, click_id: str) -> str:
    """The `Location` the edge sends for a link to `destination` made with the suite's UTM values.

    Raises `InvalidLink` (with the destination's refusal as its cause) when the link is refused.
    """
    from shortlinks.link import Link, LinkDraft, LinkRules
    from tracker.edge.redirect import TargetCompiler

    draft = LinkDraft.from_json({"destination": destination, "utm": SUITE_UTM}, LinkRules(click_param=CLICK_PARAM))
    link = Link.from_draft("wpt", draft, datetime.now(UTC))
    target = TargetCompiler(_settings())(link.to_record())  # type: ignore[arg-type]  # _settings: object
    return f"{target.location_head}{click_id}{target.location_tail}"


def _settings() -> object:
    from tracker.settings import Settings

    return Settings.from_env({"TRACKER_SECRET": "x" * 32, "TRACKER_API_KEYS": "k" * 32,
                              "TRACKER_CLICK_PARAM": CLICK_PARAM})


def url_suite(cases: list[UrlCase] | None = None) -> list[UrlOutcome]:
    from shortlinks.destination import POLICY_REASONS, InvalidDestination
    from shortlinks.link import InvalidLink

    outcomes = []
    for case in url_cases() if cases is None else cases:
        click_id = "C1ick1d"
        try:
            location: str | None = redirect_location(case.input, click_id)
            reason = ""
        except InvalidLink as exc:
            location = None
            cause = exc.__context__
            reason = cause.reason if isinstance(cause, InvalidDestination) else str(exc)
        outcomes.append(judge(case, location, reason, click_id, POLICY_REASONS))
    return outcomes


def url_table(outcomes: list[UrlOutcome]) -> str:
    valid = [o for o in outcomes if o.case.href is not None]
    invalid = [o for o in outcomes if o.case.href is None]
    rows = ["| inputs | count | exact | refused | wrong |", "|---|---:|---:|---:|---:|"]
    for label, group in (("valid (the standard gives an href)", valid), ("rejected by the standard", invalid),
                         ("all", outcomes)):
        verdicts = Counter(o.verdict for o in group)
        rows.append(f"| {label} | {len(group)} | {verdicts['exact']} | {verdicts['refused']} | {verdicts['wrong']} |")
    reasons = Counter(o.detail for o in valid if o.verdict == "refused")
    lines = ["\n".join(rows), "", "Valid inputs refused, by documented reason: "
             + (", ".join(f"`{reason}` {n}" for reason, n in reasons.most_common()) or "none")]
    wrong = [o for o in outcomes if o.verdict == "wrong"]
    for outcome in wrong[:20]:
        lines.append(f"- wrong: {outcome.case.input!r}: {outcome.detail}")
    if len(wrong) > 20:
        lines.append(f"- ... and {len(wrong) - 20} more")
    return "\n".join(lines)


# ---- bots ---------------------------------------------------------------------------------------

CRAWLER_USER_AGENTS = "crawler-user-agents==1.67.0"
DEVICE_DETECTOR = "device-detector==6.5.1"
NPM_PACKAGES = ("isbot@5.2.3", "user-agents@2.1.198")
# Matomo files these as browsers, but a browser navigating to a page always sends the
# 'Mozilla/5.0 (...)' form (or Opera's old 'Opera/9.80 (...)'); the rest are background fetchers
# and app HTTP stacks (Dalvik/, CFNetwork/...), which no tap comes through. Both figures are shown.
_NAVIGATION_FORM = re.compile(r"^(?:Mozilla|Opera)/\d")


@dataclass(frozen=True, slots=True)
class AgentList:
    name: str
    kind: str  # 'bots' | 'browsers'
    source: str
    agents: tuple[str, ...]


def sample_lists() -> list[AgentList]:
    """The vendored samples (tests/references/bots/*.json), as `make test` checks them."""
    lists = []
    for path in sorted(BOT_SAMPLES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        lists.append(AgentList(path.stem, data["kind"], data["source"], tuple(a["agent"] for a in data["agents"])))
    return lists


def full_lists(workdir: Path) -> list[AgentList]:
    """The whole public lists, fetched from PyPI and npm into `workdir`."""
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(workdir)]
    subprocess.run([*pip, CRAWLER_USER_AGENTS, DEVICE_DETECTOR], check=True)
    subprocess.run(["npm", "install", "--silent", "--prefix", str(workdir), *NPM_PACKAGES], check=True,
                   stdout=subprocess.DEVNULL)
    wheels = {path.name.split("-")[0]: path for path in workdir.glob("*.whl")}
    with zipfile.ZipFile(wheels["crawler_user_agents"]) as wheel:
        patterns = json.loads(wheel.read("crawleruseragents/crawler-user-agents.json"))
    cua = _unique(instance for entry in patterns for instance in entry.get("instances", []))
    bots, browsers, navigations = _matomo(wheels["device_detector"])
    npm_browsers = json.loads((workdir / "node_modules/user-agents/dist/user-agents.json").read_text())
    lists = [
        AgentList("crawler-user-agents", "bots", CRAWLER_USER_AGENTS + " (PyPI), every pattern's instances", cua),
        AgentList("matomo-bots", "bots", DEVICE_DETECTOR + " (PyPI), matomo's Tests/fixtures/bots.yml", bots),
        AgentList("user-agents-npm", "browsers", "user-agents@2.1.198 (npm), real traffic",
                  _unique(entry["userAgent"] for entry in npm_browsers)),
        AgentList("matomo-browsers", "browsers", DEVICE_DETECTOR + ", smartphone/tablet/phablet/desktop fixtures "
                  "whose client is a browser", browsers),
        AgentList("matomo-browser-navigations", "browsers", "the same, in the navigation form "
                  "('Mozilla/5.0 (...)')", navigations),
    ]
    vendored_only = [s for s in sample_lists() if s.name in ("crawlerdetect-crawlers", "in-app-browsers")]
    return lists + vendored_only


def _matomo(wheel_path: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    prefix = "device_detector/tests/fixtures/upstream/"
    bots: list[str] = []
    browsers: list[str] = []
    with zipfile.ZipFile(wheel_path) as wheel:
        for name in sorted(wheel.namelist()):
            if not name.startswith(prefix) or not name.endswith(".yml"):
                continue
            stem = name[len(prefix):]
            if stem == "bots.yml":
                bots += [entry["user_agent"] for entry in yaml.load(wheel.read(name), Loader=loader)]
            elif stem.startswith(("smartphone", "tablet", "phablet", "desktop")):
                for entry in yaml.load(wheel.read(name), Loader=loader):
                    if (entry.get("client") or {}).get("type") == "browser":
                        browsers.append(entry["user_agent"])
    unique_browsers = _unique(browsers)
    return _unique(bots), unique_browsers, tuple(a for a in unique_browsers if _NAVIGATION_FORM.match(a))


def _unique(agents: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for a in agents if a and a.strip()))


def isbot_verdicts(agents: Iterable[str], node_modules: Path) -> list[bool]:
    script = "const {isbot}=require('isbot');let t='';process.stdin.on('data',c=>t+=c).on('end',()=>" \
             "process.stdout.write(JSON.stringify(JSON.parse(t).map(a=>isbot(a)))))"
    reply = subprocess.run(["node", "-e", script], input=json.dumps(list(agents)), capture_output=True, text=True,
                           check=True, env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    return json.loads(reply.stdout)


def our_verdicts(agents: Iterable[str]) -> list[bool]:
    from tracker.loader.enrichment import classify

    return [classify(agent).is_bot for agent in agents]


def bot_table(lists: list[AgentList], isbot: Callable[[AgentList], list[bool]]) -> str:
    rows = ["| list | kind | agents | ours flagged | isbot flagged | source |", "|---|---|---:|---:|---:|---|"]
    misses = []
    for agent_list in lists:
        ours, theirs = our_verdicts(agent_list.agents), isbot(agent_list)
        rows.append(f"| {agent_list.name} | {agent_list.kind} | {len(agent_list.agents):,} | "
                    f"{_share(ours)} | {_share(theirs)} | {agent_list.source} |")
        wrong = (not v for v in ours) if agent_list.kind == "bots" else iter(ours)
        misses += [f"- {agent_list.name}: {a!r}" for a, bad in zip(agent_list.agents, wrong, strict=True) if bad][:10]
    note = ("\nFor bot lists the share flagged is the recall; for browser lists it is the false positive rate."
            "\n\nOurs wrong (first 10 per list):\n" + ("\n".join(misses) or "none"))
    return "\n".join(rows) + "\n" + note


def _share(verdicts: list[bool]) -> str:
    return f"{sum(verdicts):,} ({100 * sum(verdicts) / max(len(verdicts), 1):.2f}%)"


def recorded_isbot(agent_list: AgentList) -> list[bool]:
    data = json.loads((BOT_SAMPLES / f"{agent_list.name}.json").read_text(encoding="utf-8"))
    return [a["isbot"] for a in data["agents"]]


def bot_figures(samples_only: bool) -> str:
    if samples_only:
        return "Vendored samples, isbot's verdicts as recorded:\n\n" + bot_table(sample_lists(), recorded_isbot)
    with tempfile.TemporaryDirectory(prefix="tracker-references-") as tmp:
        workdir = Path(tmp)
        lists = full_lists(workdir)
        return bot_table(lists, lambda agent_list: isbot_verdicts(agent_list.agents, workdir / "node_modules"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", action="store_true", help="only the URL suite")
    parser.add_argument("--bots", action="store_true", help="only the bot lists")
    parser.add_argument("--samples", action="store_true", help="bots: the vendored samples only (no network)")
    args = parser.parse_args(argv)
    both = not (args.urls or args.bots)
    if args.urls or both:
        print("## URL suite (web-platform-tests urltestdata.json, absolute http(s) inputs)\n")
        print(url_table(url_suite()))
        print()
    if args.bots or both:
        print("## Bot detection\n")
        print(bot_figures(args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
