"""The ClickHouse schema and its migrations, against a real engine (chDB), plus URL parsing (pure)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.clickhouse import applied_versions
from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import (
    MIGRATIONS_DIR,
    Migration,
    MigrationError,
    load_migrations,
    migrate,
)

# SPEC section 6, in order; dead_letters from the loader's contract.
SPEC_COLUMNS = {
    "clicks": [
        "click_id", "ts", "code", "channel", "campaign", "message", "utm_source", "utm_medium", "utm_campaign",
        "utm_content", "utm_term", "tags", "recipient_ref", "destination_host", "method", "is_bot", "bot_reason",
        "device_type", "os", "browser", "referer", "ip_ref", "domain",
    ],
    "conversions": [
        "order_id", "type", "value", "currency", "click_id", "recipient_ref", "ts", "source", "verified",
        "subscription_id",
    ],
    "dead_letters": ["ts", "stream", "entry_id", "reason", "payload"],
    "messages": [
        "message_id", "status", "ts", "recipient_ref", "code", "channel", "campaign", "message", "tags",
        "provider", "error_code",
    ],
}
# Columns of ours after the spec's (docs/attribution.md says what they hold).
EXTRA_COLUMNS = {
    "clicks": [], "conversions": ["refund_id"], "dead_letters": [],
    # the link's UTM values, and the door a row came through (docs/attribution.md, view-through)
    "messages": ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "source", "domain"],
}
EVENT_TABLES = tuple(SPEC_COLUMNS)


@pytest.fixture
def empty_database(clickhouse_url: str) -> Iterator[Client]:
    """A client on a new database that nothing has been migrated into."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(clickhouse_url, database=database)
    try:
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


def _show_create(client: Client, table: str) -> str:
    return str(client.command(f"SHOW CREATE TABLE {table}"))


def _copy_migrations(target: Path) -> Path:
    """The top-level migration files only, so tests can edit them without touching the real ones."""
    target.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, target / path.name)
    return target


# --- migrate, against chDB ---------------------------------------------------------------------------------


def test_migrate_applies_every_file_once_and_records_its_version(empty_database: Client) -> None:
    versions = [m.version for m in load_migrations()]
    assert "0001" in versions

    assert applied_versions(empty_database) == []
    assert migrate(empty_database) == versions
    assert migrate(empty_database) == []
    assert applied_versions(empty_database) == versions

    rows = empty_database.query("SELECT name, checksum FROM schema_migrations FINAL ORDER BY version").result_rows
    assert rows == [(m.name, m.checksum) for m in load_migrations()]


def test_every_spec_table_has_the_spec_columns(clickhouse: Client) -> None:
    for table, expected in SPEC_COLUMNS.items():
        names = clickhouse.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "ORDER BY position",
            parameters={"t": table},
        ).result_columns[0]
        assert list(names) == expected + EXTRA_COLUMNS[table], table

    rows = clickhouse.query(
        "SELECT concat(table, '.', name), type FROM system.columns WHERE database = currentDatabase()"
    ).result_rows
    types: dict[str, str] = {column: type_ for column, type_ in rows}
    assert types["clicks.ts"] == types["conversions.ts"] == types["dead_letters.ts"] == "DateTime64(3, 'UTC')"
    assert types["conversions.value"] == "Decimal(18, 4)"
    assert types["clicks.tags"] == "Array(LowCardinality(String))"
    assert types["clicks.is_bot"] == types["conversions.verified"] == "Bool"
    assert types["conversions.subscription_id"] == types["conversions.refund_id"] == "String"


def test_event_tables_keep_insert_deduplication_on(clickhouse: Client) -> None:
    for table in EVENT_TABLES:
        engine_full = clickhouse.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}",
            parameters={"t": table},
        ).result_rows[0][0]
        window = re.search(r"non_replicated_deduplication_window = (\d+)", engine_full)
        assert window is not None and int(window.group(1)) > 0, table


def _insert_click(client: Client, token: str) -> None:
    client.insert(
        "clicks",
        [["c1", datetime(2025, 3, 1, 12, 0, tzinfo=UTC), "abc", "sms", "spring", "m1", ["vip"], "r1", False]],
        column_names=["click_id", "ts", "code", "channel", "campaign", "message", "tags", "recipient_ref", "is_bot"],
        settings={"insert_deduplication_token": token},
    )


def test_a_retried_block_with_the_same_token_is_stored_once(clickhouse: Client) -> None:
    _insert_click(clickhouse, "stream-0:1-0..1-9")
    _insert_click(clickhouse, "stream-0:1-0..1-9")
    assert clickhouse.command("SELECT count() FROM clicks") == 1

    _insert_click(clickhouse, "stream-0:2-0..2-9")
    assert clickhouse.command("SELECT count() FROM clicks") == 2


def test_an_edited_migration_is_refused(empty_database: Client, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    assert migrate(empty_database, folder=folder) == [m.version for m in load_migrations(folder)]

    edited = folder / "0001_events.sql"
    edited.write_text(edited.read_text() + "\nCREATE TABLE IF NOT EXISTS sneaky (x UInt8) ENGINE = Memory;\n")
    with pytest.raises(MigrationError, match="0001_events.sql does not match"):
        migrate(empty_database, folder=folder)
    assert not empty_database.command("EXISTS TABLE sneaky")


def test_files_in_subfolders_and_unnumbered_files_are_not_migrations(empty_database: Client, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    (folder / "cluster").mkdir()
    (folder / "cluster" / "0900_replicated.sql").write_text("this is not sql;\n")
    (folder / "notes.sql").write_text("nor is this;\n")
    (folder / "0901_draft.sql.bak").write_text("nor this;\n")

    assert migrate(empty_database, folder=folder) == [m.version for m in load_migrations()]


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;\n")
    with pytest.raises(MigrationError, match="version 0001"):
        load_migrations(tmp_path)


def test_retention_sets_a_ttl_and_zero_removes_it(clickhouse: Client) -> None:
    migrate(clickhouse, retention_days=7)
    for table in EVENT_TABLES:
        assert "TTL toDateTime(ts) + toIntervalDay(7)" in _show_create(clickhouse, table)

    migrate(clickhouse, retention_days=30)
    for table in EVENT_TABLES:
        assert "toIntervalDay(30)" in _show_create(clickhouse, table)

    migrate(clickhouse, retention_days=0)
    migrate(clickhouse, retention_days=0)  # no TTL left to remove: must not fail
    for table in EVENT_TABLES:
        assert "TTL" not in _show_create(clickhouse, table)


# --- pure: statement splitting and URL parsing -------------------------------------------------------------


def test_statements_split_on_semicolons_at_line_ends_and_skip_comments() -> None:
    sql = "-- header;\nCREATE TABLE a\n(\n    x String -- why\n);\n\n  -- between;\nSELECT 'a;b';\nSELECT 3\n"
    migration = Migration(version="0001", name="0001_x.sql", checksum="", sql=sql)
    assert migration.statements() == ["CREATE TABLE a\n(\n    x String -- why\n)", "SELECT 'a;b'", "SELECT 3"]


def test_a_failing_migration_names_its_statement_and_is_not_recorded(empty_database: Client, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    (folder / "0999_broken.sql").write_text("CREATE TABLE IF NOT EXISTS ok (x UInt8) ENGINE = Memory;\nSELEKT 1;\n")
    with pytest.raises(MigrationError, match="0999_broken.sql, statement 2"):
        migrate(empty_database, folder=folder)
    assert "0999" not in applied_versions(empty_database)

    (folder / "0999_broken.sql").write_text("CREATE TABLE IF NOT EXISTS ok (x UInt8) ENGINE = Memory;\n")
    assert migrate(empty_database, folder=folder) == ["0999"]
