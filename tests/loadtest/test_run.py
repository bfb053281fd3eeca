"""`loadtest/run` end to end: a short Locust run against a `tracker dev` it starts itself, then its loss check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}


def run(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "loadtest" / "run"), "--links", "300", "--think-time", "0.2",
         "--summary", str(summary), "--work", str(tmp_path / "work"), *options],
        cwd=tmp_path, env=CLEAN_ENV, capture_output=True, text=True, timeout=60,
    )
    assert summary.exists(), done.stdout + done.stderr
    return done, json.loads(summary.read_text())


@pytest.mark.slow
def test_short_run_against_its_own_dev_loses_and_doubles_no_click_no_order_and_no_message(tmp_path: Path) -> None:
    # Latency limits are loose on purpose: this runs beside the rest of the suite on 2 shared cores; what it
    # pins down is the plumbing and the zero-loss guarantee, which must hold however slow the machine is.
    done, summary = run(tmp_path, "--duration", "10", "--users", "10", "--max-p50-ms", "1000",
                        "--max-p99-ms", "5000")

    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["ok"] is True
    assert summary["dev_stopped_cleanly"] is True
    assert summary["load"]["redirects"] > 0 and summary["load"]["failures"] == 0
    clicks, orders = summary["loss"]["clicks"], summary["loss"]["conversions"]
    assert clicks["received"] > 0
    assert (clicks["lost"], clicks["doubled"]) == (0, 0)
    assert clicks["found"] == clicks["received"]
    assert orders["received"] > 0
    assert (orders["lost"], orders["doubled"]) == (0, 0)
    # Every text registered, and the receipts the providers posted for some of them (some twice).
    messages = summary["loss"]["messages"]
    assert messages["received"] > 300 and messages["received_lines"] >= messages["received"]
    assert (messages["lost"], messages["doubled"]) == (0, 0)
    assert "| clicks: lost / doubled" in done.stdout and done.stdout.rstrip().endswith("PASS")


@pytest.mark.slow
def test_a_missed_latency_objective_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    done, summary = run(tmp_path, "--duration", "3", "--users", "4", "--max-p50-ms", "0.01")

    assert done.returncode == 1, done.stdout + done.stderr
    assert summary["ok"] is False
    assert [check["ok"] for check in summary["slo"] if check["name"] == "redirect p50 ms"] == [False]
    assert summary["loss"]["ok"] is True  # a slow run still loses nothing
    assert done.stdout.rstrip().endswith("FAIL")
