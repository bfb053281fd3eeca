"""The README's curl tour, run as written against a real `tracker dev`: it must really credit its sales.

The block under "The same from a script" is taken from README.md as it is, pointed at this test's ports, and
run by bash with curl. Its tap carries the README's phone user agent; the report must then show the click as
human and both orders (the pixel's, by click id, and the backend's, by recipient) credited to the campaign.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.dev.test_runner import CLEAN_ENV, interrupt, ready, start_dev
from tests.support.servers import wait_until
from tracker.dev.embedded_redis import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_script() -> str:
    text = README.read_text()
    after = text.index("The same from a script")
    match = re.compile(r"```sh\n(.*?)```", re.DOTALL).search(text, after)
    assert match, "the README lost its curl tour"
    return match.group(1)


def test_the_tour_taps_as_a_phone_and_never_with_curls_own_agent_or_a_head():
    script = tour_script()
    taps = [line for line in script.splitlines() if re.search(r"curl .*localhost:8080/\$CODE", line)]
    assert taps and all('-A "$PHONE"' in line and " -I" not in line and "-sI" not in line for line in taps)


@pytest.mark.slow
def test_the_readme_curl_tour_credits_both_of_its_orders(tmp_path):
    edge_port, admin_port = free_port(), free_port()
    script = tour_script().replace("localhost:8080", f"localhost:{edge_port}").replace(
        "localhost:8081", f"localhost:{admin_port}")
    dev = start_dev(tmp_path, edge_port, admin_port)
    try:
        wait_until(lambda: ready(edge_port) and ready(admin_port), timeout=60, interval=0.1, message="tracker dev")
        ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=CLEAN_ENV,
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        assert "HTTP/1.1 302 Found" in ran.stdout, ran.stdout
        assert re.search(r"^200$", ran.stdout, re.MULTILINE), ran.stdout  # the pixel
        key = (tmp_path / "data" / "api_key").read_text().strip()

        def credited() -> dict | None:
            report = httpx.get(f"http://127.0.0.1:{admin_port}/v1/reports/campaigns",
                               params={"group_by": "channel,campaign,message"},
                               headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
            rows = report["rows"]
            return report if rows and rows[0]["orders"] == 2 and rows[0]["delivered"] == 1 else None

        report = wait_until(credited, timeout=30, interval=0.2, message="both tour orders credited")
        [row] = report["rows"]
        assert (row["channel"], row["campaign"], row["message"]) == ("sms", "black_friday", "reminder-1")
        assert (row["clicks"], row["human_clicks"], row["bot_clicks"]) == (1, 1, 0)
        assert row["revenue"] == 79.9 and report["unattributed_orders"] == 0
        # the text the platform registered, on the same row
        assert (row["sent"], row["delivered"], row["delivery_rate"], row["click_rate"]) == (1, 1, 1.0, 1.0)
    finally:
        interrupt(dev)
