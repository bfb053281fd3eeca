"""`tracker conversions import` as a real process against the real `POST /v1/conversions/import` and redis-server:
a file of several chunks, its bad lines and conflicts named by their line in the file, and a second run that
records nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin
from tracker.client.conversions import CHUNK_ROWS
from tracker.events.streams import stream_names

TRACKER = str(Path(sys.executable).with_name("tracker"))


@pytest.fixture
def admin_url(redis_url: str) -> Iterator[str]:
    with serve_in_thread(Admin(make_settings(redis_url)).app) as base:
        yield base


def test_a_file_of_several_chunks_is_imported_once_with_file_line_numbers(admin_url, sync_redis, tmp_path) -> None:
    rows = CHUNK_ROWS + 300
    lines = ["order_id,type,value,currency,recipient,occurred_at"]
    for n in range(rows):
        value = "abc" if n in (10, CHUNK_ROWS + 7) else f"{n % 97 + 1}.50"
        lines.append(f"POS-{n},purchase,{value},EUR,+1415555{n % 10000:04d},2026-11-02T10:00:00Z")
    lines.append("POS-3,purchase,999.00,EUR,,2026-11-02T10:00:00Z")  # POS-3 again, another amount
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "TRACKER_ADMIN_URL": admin_url, "TRACKER_API_KEY": API_KEY}

    first = subprocess.run([TRACKER, "conversions", "import", str(path)], env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 1  # bad lines and a conflict are worth a non-zero exit
    assert f"accepted {rows - 2:,}, duplicates 0, conflicts 1, errors 2" in first.stdout
    assert f"{path} line 12: value: expected a plain decimal number like 19.99" in first.stderr
    assert f"{path} line {CHUNK_ROWS + 9}: value: expected a plain decimal number like 19.99" in first.stderr
    assert f"{path} line {rows + 2}: conflict: order POS-3 (purchase)" in first.stderr
    events = [orjson.loads(f[b"e"]) for _, f in sync_redis.xrange(stream_names(1)[0])]
    assert len(events) == rows - 2 and {e["source"] for e in events} == {"import"}

    again = subprocess.run([TRACKER, "conversions", "import", str(path)], env=env, capture_output=True, text=True,
                           timeout=300)
    assert f"accepted 0, duplicates {rows - 2:,}, conflicts 1, errors 2" in again.stdout
    assert sync_redis.xlen(stream_names(1)[0]) == rows - 2
