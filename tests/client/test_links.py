"""`tracker links create | import | list` as real processes against a real admin API and redis-server."""

from __future__ import annotations

import csv
import io
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.servers import serve_in_thread
from tests.support.settings import API_KEY, make_settings
from tracker.admin.app import Admin

TRACKER = str(Path(sys.executable).with_name("tracker"))


@pytest.fixture
def admin_url(redis_url: str) -> Iterator[str]:
    settings = make_settings(redis_url, TRACKER_SHORT_DOMAINS="go.brand.example")
    with serve_in_thread(Admin(settings).app) as base:
        yield base


def tracker(admin_url: str, *args: str, key: str = API_KEY, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRACKER_ADMIN_URL": admin_url, "TRACKER_API_KEY": key}
    return subprocess.run([TRACKER, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin)


def test_links_create_prints_the_short_url(admin_url: str) -> None:
    done = tracker(admin_url, "links", "create", "https://shop.example/sale", "--campaign", "Spring Sale",
                   "--utm-source", "klaviyo", "--tag", "vip", "--tag", "launch")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("https://go.shop.example/") and "\n" not in url


def test_links_create_takes_a_vanity_code_and_a_domain_and_prints_json(admin_url: str) -> None:
    done = tracker(admin_url, "links", "create", "https://shop.example/", "--code", "summer-26",
                   "--domain", "go.brand.example", "--format", "json")
    assert done.returncode == 0, done.stderr
    link = orjson.loads(done.stdout)
    assert (link["code"], link["domain"], link["short_url"]) == (
        "summer-26", "go.brand.example", "https://go.brand.example/summer-26")
    again = tracker(admin_url, "links", "create", "https://shop.example/", "--code", "summer-26",
                    "--domain", "go.brand.example")
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "409" in again.stderr and "taken" in again.stderr


def test_errors_are_one_line_without_a_traceback(admin_url: str) -> None:
    cases = [
        tracker(admin_url, "links", "create", "javascript:alert(1)"),
        tracker(admin_url, "links", "list", key="wrong-key-0123456789"),
        tracker("http://127.0.0.1:9", "links", "list"),
        tracker(admin_url, "links", "list", key=""),
        tracker(admin_url, "links", "import", "/no/such/file.csv", "--destination", "https://shop.example/"),
    ]
    for done in cases:
        assert done.returncode != 0
        assert done.stderr.startswith("tracker: ") and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert "422" in cases[0].stderr and "destination" in cases[0].stderr
    assert "TRACKER_API_KEY" in cases[1].stderr
    assert "cannot reach the admin API" in cases[2].stderr
    assert "TRACKER_API_KEY" in cases[3].stderr


def test_links_import_makes_one_link_per_row_in_batches_and_writes_the_codes(admin_url: str, tmp_path: Path) -> None:
    rows = 10_250
    source = tmp_path / "recipients.csv"
    with source.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["phone", "first_name", "campaign"])
        for n in range(rows):
            writer.writerow([f"+1415{n:07d}" if n != 7 else "not a phone", f"name{n}",
                             "vip" if n % 1000 == 0 else ""])
    out = tmp_path / "codes.csv"
    done = tracker(admin_url, "links", "import", str(source), "--destination", "https://shop.example/spring",
                   "--campaign", "spring", "-o", str(out))
    assert done.returncode == 1  # one row was skipped, and said so
    assert f"{source} line 9: phone: " in done.stderr
    assert "created 10,249 links in 3 batches; 1 rows skipped" in done.stderr
    written = list(csv.DictReader(out.open()))
    assert len(written) == rows - 1
    assert list(written[0]) == ["phone", "first_name", "campaign", "recipient_ref", "code", "short_url"]
    assert [r["first_name"] for r in written] == [f"name{n}" for n in range(rows) if n != 7]
    assert len({r["code"] for r in written}) == rows - 1
    assert all(r["short_url"] == f"https://go.shop.example/{r['code']}" for r in written)

    vip = tracker(admin_url, "links", "list", "--campaign", "vip", "--limit", "0", "--format", "json")
    assert sorted(link["code"] for link in orjson.loads(vip.stdout)) == sorted(
        r["code"] for r in written if r["campaign"] == "vip")


def test_links_list_prints_a_table_csv_or_json(admin_url: str) -> None:
    for n in range(3):
        tracker(admin_url, "links", "create", f"https://shop.example/p{n}", "--campaign", "spring")
    table = tracker(admin_url, "links", "list", "--campaign", "spring")
    assert table.returncode == 0, table.stderr
    assert "3 links" in table.stdout and "https://shop.example/p2" in table.stdout
    listed = list(csv.DictReader(io.StringIO(tracker(admin_url, "links", "list", "--format", "csv").stdout)))
    assert [r["destination"] for r in listed] == [f"https://shop.example/p{n}" for n in (2, 1, 0)]
    found = orjson.loads(tracker(admin_url, "links", "list", "--q", "p1", "--format", "json").stdout)
    assert [link["destination"] for link in found] == ["https://shop.example/p1"]
    two = orjson.loads(tracker(admin_url, "links", "list", "--limit", "2", "--format", "json").stdout)
    assert len(two) == 2


def test_links_import_shows_a_progress_bar_on_a_terminal(admin_url: str, tmp_path: Path) -> None:
    source = tmp_path / "recipients.csv"
    source.write_text("email\n" + "".join(f"user{n}@shop.example\n" for n in range(300)))
    out = tmp_path / "codes.csv"
    primary, secondary = pty.openpty()
    env = {**os.environ, "TRACKER_ADMIN_URL": admin_url, "TRACKER_API_KEY": API_KEY, "COLUMNS": "100"}
    process = subprocess.Popen([TRACKER, "links", "import", str(source), "--destination", "https://shop.example/",
                                "-o", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        screen += chunk
    assert process.wait(timeout=60) == 0
    os.close(primary)
    text = screen.decode("utf-8", "replace")
    assert "creating links" in text and "300/300" in text and "━" in text
    assert len(out.read_text().splitlines()) == 301
