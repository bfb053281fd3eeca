"""Opening a ClickHouse client from TRACKER_CLICKHOUSE_URL: URL parsing (pure) and connecting (chDB)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tracker.clickhouse.connect import ClickHouseTarget, ClickHouseUrlError, connect, parse_url


def test_connect_with_a_database_creates_it_and_uses_it(clickhouse_url: str) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    for _ in range(2):  # the second time it already exists
        client = connect(clickhouse_url, database=database)
        assert client.command("SELECT currentDatabase()") == database
        client.close()
    client = connect(clickhouse_url)
    client.command(f"DROP DATABASE {database}")
    client.close()


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "http://", "https://:8443/db", "chdb:", "chdb://", "garbage", "", "http://h:port/db",
     "http://h/db/extra", "http://h/db?secure=1"],
)
def test_connect_rejects_a_malformed_url_naming_the_variable(url: str) -> None:
    with pytest.raises(ClickHouseUrlError, match="TRACKER_CLICKHOUSE_URL") as info:
        connect(url)
    assert "\n" not in str(info.value)


def test_a_rejected_url_is_not_echoed_with_its_password() -> None:
    with pytest.raises(ClickHouseUrlError) as info:
        parse_url("http://u:s3cret@h:port/db")
    assert "s3cret" not in str(info.value)


def test_parse_url_reads_user_password_host_port_and_database() -> None:
    target = parse_url("http://reporter:p%40ss@ch.internal:9123/tracker")
    assert target == ClickHouseTarget(
        interface="http", host="ch.internal", port=9123, username="reporter", password="p@ss", database="tracker"
    )
    assert "p@ss" not in repr(target)


def test_parse_url_defaults_ports_user_and_database() -> None:
    assert parse_url("http://ch.internal") == ClickHouseTarget(interface="http", host="ch.internal", port=8123)
    assert parse_url("https://u:p@ch.example/db") == ClickHouseTarget(
        interface="https", host="ch.example", port=8443, username="u", password="p", database="db"
    )


def test_a_chdb_path_is_relative_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_url("chdb://./data/clickhouse") == ClickHouseTarget(
        interface="chdb", path=str(tmp_path / "data" / "clickhouse")
    )
    assert parse_url("chdb:///srv/tracker/ch").path == "/srv/tracker/ch"
