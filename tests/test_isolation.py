"""No test touches the checkout's `./data`: `make test` passes while `tracker dev` runs from the same checkout.

chDB opens a folder in one process only, so a test process opening the checkout's `./data/clickhouse` (the
default TRACKER_CLICKHOUSE_URL, relative to the current folder) fails, or makes the user's `tracker dev` fail.
The suite therefore runs in a temp folder (tests/conftest.py) and every process it starts runs in its test's
own temp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import ROOT
from tests.support.processes import TrackerProcess, tracker_env


def test_the_suite_runs_in_a_temp_folder_outside_the_checkout():
    assert not Path.cwd().resolve().is_relative_to(ROOT)
    assert Path("data").resolve() != ROOT / "data"


def test_a_process_a_test_starts_keeps_its_default_chdb_folder_in_that_tests_temp_folder(redis_url, tmp_path):
    env = tracker_env(redis_url)
    assert "TRACKER_CLICKHOUSE_URL" not in env  # so the default, chdb://./data/clickhouse, is used
    with TrackerProcess(["admin"], env, tmp_path, "admin") as admin:
        assert Path(os.readlink(f"/proc/{admin.pid}/cwd")) == tmp_path
        assert (tmp_path / "data" / "clickhouse").is_dir()
        opened = {os.readlink(f"/proc/{admin.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{admin.pid}/fd")}
        assert not any(path.startswith(str(ROOT / "data")) for path in opened)
