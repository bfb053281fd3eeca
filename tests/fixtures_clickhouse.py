"""ClickHouse fixtures backed by chDB, loaded from conftest with `pytest_plugins`.

chDB runs one engine path per process, so the whole session shares one path (`chdb_path`); each test gets
its own freshly migrated database on it, dropped afterwards, which keeps tests independent without paying
for a new engine per test. Code that connects by itself gets `clickhouse_url`: the same path, so it works in
this process too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tracker.clickhouse import connect
from tracker.migrate import migrate


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data directory of this test session (created by the first connect)."""
    return tmp_path_factory.mktemp("chdb") / "clickhouse"


@pytest.fixture(scope="session")
def clickhouse_url(chdb_path: Path) -> str:
    """TRACKER_CLICKHOUSE_URL for the session's chDB engine."""
    return f"chdb://{chdb_path}"


@pytest.fixture
def clickhouse(clickhouse_url: str) -> Iterator[Client]:
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
