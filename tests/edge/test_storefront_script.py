"""The storefront script `tracker/edge/static/t.js`, read as source: what the edge fills in and what it may use."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.settings import make_settings
from tracker.edge.pixel import StorefrontScript, without_comments

T_JS = Path(__file__).resolve().parents[2] / "tracker" / "edge" / "static" / "t.js"


def test_t_js_has_both_placeholders_for_the_edge_to_fill() -> None:
    source = T_JS.read_text(encoding="utf-8")
    assert "__CLICK_PARAM__" in source
    assert "__MAX_AGE__" in source


def test_t_js_defines_tracker_conversion_and_fires_the_pixel() -> None:
    source = T_JS.read_text(encoding="utf-8")
    assert "window.tracker" in source
    assert ".conversion = conversion" in source
    assert "/px.gif?" in source
    assert "src', 'js'" in source


def test_t_js_stays_small_and_es5() -> None:
    source = T_JS.read_text(encoding="utf-8")
    served = StorefrontScript(make_settings()).body
    assert len(served) < 4096
    code = without_comments(source)
    assert "//" not in code.replace(":\\/\\/", "") and "/*" not in code
    for modern in (r"=>", r"\blet\s", r"\bconst\s", r"`", r"\bclass\s"):
        assert not re.search(modern, code), modern
