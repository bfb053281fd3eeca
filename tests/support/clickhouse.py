"""ClickHouse fixtures backed by chDB, loaded from conftest with `pytest_plugins`.

chDB runs one engine path per process, so the whole session shares one path (`chdb_path`); each test gets
its own freshly migrated database on it, dropped afterwards, which keeps tests independent without paying
for a new engine per test. Code that connects by itself gets `clickhouse_url`: the same path, so it works in
this process too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import migrate, recorded_checksums
from tracker.events import click, conversion, message


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data directory of this test session (created by the first connect)."""
    return tmp_path_factory.mktemp("chdb") / "clickhouse"


@pytest.fixture(scope="session")
def clickhouse_url(chdb_path: Path) -> str:
    """TRACKER_CLICKHOUSE_URL for the session's chDB engine."""
    return f"chdb://{chdb_path}"


@contextmanager
def fresh_database(clickhouse_url: str) -> Iterator[Client]:
    """A client on a new database `t_<12 hex>` with the schema migrated; the database is dropped afterwards.

    The name is in `client.database`, for tests that hand the database to code that connects by itself.
    """
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(clickhouse_url, database=database)
    try:
        migrate(client)
        yield client
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


@pytest.fixture
def clickhouse(clickhouse_url: str) -> Iterator[Client]:
    """A fresh database for one test (see `fresh_database`)."""
    with fresh_database(clickhouse_url) as client:
        yield client


Row = dict[str, Any]


def insert_rows(
    client: Client, clicks: Sequence[Row] = (), conversions: Sequence[Row] = (), messages: Sequence[Row] = (),
) -> None:
    """Rows as the loader writes them: one block per table, column names and types given (a second identical
    block would be deduplicated)."""
    # A conversion row without the fields added later reads as one written before they existed.
    conversions = [{**dict.fromkeys(conversion.LATER_FIELDS, ""), **row} for row in conversions]
    messages = [{**dict.fromkeys(message.LATER_FIELDS, ""), **row} for row in messages]
    for schema, rows in ((click, clicks), (conversion, conversions), (message, messages)):
        table, columns = schema.TABLE, schema.COLUMNS
        if rows:
            client.insert(
                table,
                [[row[name] for name, _ in columns] for row in rows],
                column_names=[name for name, _ in columns],
                column_type_names=[kind for _, kind in columns],
            )


def applied_versions(client: Client) -> list[str]:
    """Versions recorded in `schema_migrations`, oldest first; read-only (creates nothing)."""
    return sorted(recorded_checksums(client))
