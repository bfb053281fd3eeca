"""The READMEs and docs/ link only inside the repository, to files and headings that exist."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.support import markdown

ROOT = markdown.DOCS.parent
PAGES = [ROOT / "README.md", ROOT / "ops" / "README.md", *sorted(markdown.DOCS.glob("*.md"))]
# [text](target) outside code spans; images too. Targets with a scheme (https:, mailto:) are not ours to check.
LINK = re.compile(r"(?<!`)\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower-case, punctuation dropped, spaces to '-', repeats numbered."""
    seen: Counter[str] = Counter()
    ids: set[str] = set()
    for line in markdown.lines(page.read_text(encoding="utf-8")):
        if markdown.heading_depth(line):
            slug = re.sub(r"[^\w\- ]", "", markdown.heading_title(line).lower()).replace(" ", "-")
            ids.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
            seen[slug] += 1
    return ids


def links(page: Path) -> list[tuple[int, str]]:
    found = []
    for line in markdown.lines(page.read_text(encoding="utf-8")):
        if not line.in_code:
            found += [(line.number, match.group("target")) for match in LINK.finditer(line.text)]
    return found


def test_the_readme_links_to_the_docs_and_mentions_the_openapi_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {target for _, target in links(ROOT / "README.md")}
    assert {"docs/api.md", "docs/configuration.md", "docs/attribution.md"} <= {t.split("#")[0] for t in targets}
    assert "/openapi.json" in readme


def test_every_link_of_the_readme_and_the_docs_resolves_inside_the_repository() -> None:
    broken = []
    for page in PAGES:
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not resolved.is_relative_to(ROOT):
                broken.append(f"{where} leaves the repository")
            elif not resolved.exists():
                broken.append(f"{where} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where}: no such heading")
    assert broken == []
