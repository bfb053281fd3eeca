"""The cluster schema (`tracker/clickhouse/schema/cluster/`) and `migrate_cluster`, checked without a cluster.

ClickHouse itself (chDB) parses every statement with `formatQuery`. To compare tables, `OneServer` runs what
`migrate_cluster` sends on chDB the way a one-server cluster would hold it: `ON CLUSTER` dropped, Replicated
engines swapped for their plain twins, a Distributed table swapped for a Merge table over the same `*_local`
table. Everything else (columns, keys, partitioning, indexes, TTL) reaches the real engine as written.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.clickhouse import applied_versions
from tracker.clickhouse.connect import connect
from tracker.clickhouse.migrate import (
    CLUSTER_MIGRATIONS_DIR,
    MIGRATIONS_DIR,
    ClusterTemplate,
    MigrationError,
    load_migrations,
    migrate_cluster,
)

CLUSTER = "tracker_cluster"
SHARDING_KEYS = {
    "clicks": "cityHash64(click_id)",
    "conversions": "cityHash64(order_id)",
    "dead_letters": "cityHash64(stream, entry_id)",
    "messages": "cityHash64(message_id)",
}

_ON_CLUSTER_RE = re.compile(r"\s+ON CLUSTER '[A-Za-z0-9_]+'")
_REPLICATED_RE = re.compile(r"\bReplicated(\w*MergeTree)\(\s*'[^']*'\s*,\s*'[^']*'\s*,?\s*")
_DISTRIBUTED_RE = re.compile(r"\bDistributed\(\s*'[^']*'\s*,\s*'([^']*)'\s*,\s*(\w+)\s*,.*\)\s*$", re.DOTALL)
_CREATE_RE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
_DDL_RE = re.compile(r"\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b")


class OneServer:
    """A chDB client standing in for a cluster: records each DDL statement as sent, runs its one-server form."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.sent: list[str] = []

    def command(self, cmd: str, *args: Any, **kwargs: Any) -> Any:
        if _DDL_RE.match(cmd):
            self.sent.append(cmd)
        local = _ON_CLUSTER_RE.sub("", cmd)
        local = _REPLICATED_RE.sub(r"\1(", local)
        local = _DISTRIBUTED_RE.sub(r"Merge('\1', '^\2$')", local)
        return self._client.command(local, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @property
    def as_client(self) -> Client:
        """This object, typed as what `migrate_cluster` takes: it answers every call a Client would."""
        return cast(Client, self)


@pytest.fixture
def cluster_database(clickhouse_url: str) -> Iterator[OneServer]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = connect(clickhouse_url, database=database)
    try:
        yield OneServer(client)
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


def _cluster_statements() -> list[str]:
    template = ClusterTemplate(CLUSTER, "tracker")
    return [template.render(s) for m in load_migrations(CLUSTER_MIGRATIONS_DIR) for s in m.statements()]


def _formatted(client: Client, statement: str) -> str:
    """ClickHouse's own rendering of a statement: it raises a syntax error if the statement does not parse."""
    return str(client.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[0][0])


def _rows(client: Client, sql: str, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql, parameters={"t": table}).result_rows]


def _columns(client: Client, table: str) -> list[tuple[Any, ...]]:
    return _rows(client, "SELECT name, type, default_kind, default_expression, comment FROM system.columns "
                         "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position", table)


def _layout(client: Client, table: str) -> list[tuple[Any, ...]]:
    return _rows(client, "SELECT partition_key, sorting_key, primary_key FROM system.tables "
                         "WHERE database = currentDatabase() AND name = {t:String}", table)


def _indexes(client: Client, table: str) -> list[tuple[Any, ...]]:
    return _rows(client, "SELECT name, type_full, expr, granularity FROM system.data_skipping_indices "
                         "WHERE database = currentDatabase() AND table = {t:String} ORDER BY name", table)


def _engine_full(client: Client, table: str) -> str:
    return str(_rows(client, "SELECT engine_full FROM system.tables "
                             "WHERE database = currentDatabase() AND name = {t:String}", table)[0][0])


def _single_node_tables() -> list[str]:
    return [name for m in load_migrations(MIGRATIONS_DIR) for s in m.statements() for name in _CREATE_RE.findall(s)]


# --- the files, parsed by ClickHouse -----------------------------------------------------------------------


def test_every_cluster_file_mirrors_a_single_node_file() -> None:
    single = [m.name for m in load_migrations(MIGRATIONS_DIR)]
    cluster = [m.name for m in load_migrations(CLUSTER_MIGRATIONS_DIR)]
    assert cluster == single


def test_every_cluster_statement_parses_and_runs_on_the_cluster(clickhouse: Client) -> None:
    statements = _cluster_statements()
    assert statements
    for statement in statements:
        assert f"ON CLUSTER {CLUSTER}" in _formatted(clickhouse, statement), statement


def test_replicated_tables_use_the_shard_and_replica_macros_and_keep_a_dedup_window(clickhouse: Client) -> None:
    local_tables = []
    for statement in _cluster_statements():
        formatted = _formatted(clickhouse, statement)
        engine = re.search(r"ENGINE = Replicated\w*\('([^']*)', '([^']*)'\)", formatted)
        if engine is None:
            continue
        table = _CREATE_RE.search(formatted)
        assert table is not None
        local_tables.append(table.group(1))
        assert engine.group(1) == f"/clickhouse/tables/{{shard}}/tracker/{table.group(1)}"
        assert engine.group(2) == "{replica}"
        window = re.search(r"\breplicated_deduplication_window = (\d+)", formatted)
        assert window is not None and int(window.group(1)) > 0, table.group(1)
    assert local_tables == [f"{t}_local" for t in _single_node_tables()]


def test_each_single_node_table_is_a_distributed_table_over_its_local_table(clickhouse: Client) -> None:
    distributed = {}
    for statement in _cluster_statements():
        formatted = _formatted(clickhouse, statement)
        engine = re.search(r"^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER \w+ AS (\w+)\s+"
                           r"ENGINE = Distributed\('(\w+)', '(\w+)', (\w+), (.+)\)$", formatted)
        if engine is not None:
            name, structure, cluster, database, local, key = engine.groups()
            assert structure == local == f"{name}_local"
            assert (cluster, database) == (CLUSTER, "tracker")
            distributed[name] = key
    assert distributed == SHARDING_KEYS
    assert list(distributed) == _single_node_tables()


def test_the_template_refuses_names_that_could_escape_a_literal() -> None:
    for cluster in ("", "prod'; DROP TABLE clicks; --", "a b", "{shard}", "a/b"):
        with pytest.raises(ValueError, match="cluster name"):
            ClusterTemplate(cluster, "tracker")
    for database in ("", "db'x", "a/b", "a b"):
        with pytest.raises(ValueError, match="database name"):
            ClusterTemplate("prod", database)
    assert ClusterTemplate("prod_1", "tracker-eu").render("'{cluster}' '{database}' '{shard}'") == (
        "'prod_1' 'tracker-eu' '{shard}'"
    )


# --- migrate_cluster, on chDB standing in for a cluster ----------------------------------------------------


def test_migrate_cluster_sends_every_statement_on_cluster_and_records_versions(cluster_database: OneServer) -> None:
    versions = [m.version for m in load_migrations(CLUSTER_MIGRATIONS_DIR)]
    assert migrate_cluster(cluster_database.as_client, CLUSTER) == versions
    assert applied_versions(cluster_database.as_client) == versions
    assert cluster_database.sent
    for statement in cluster_database.sent:
        assert f"ON CLUSTER '{CLUSTER}'" in statement, statement
        assert "{cluster}" not in statement and "{database}" not in statement

    cluster_database.sent.clear()
    assert migrate_cluster(cluster_database.as_client, CLUSTER) == []
    assert not any(s.lstrip().startswith("CREATE TABLE IF NOT EXISTS clicks") for s in cluster_database.sent)


def test_cluster_tables_match_the_single_node_tables(clickhouse: Client, cluster_database: OneServer) -> None:
    cluster = cluster_database.as_client
    migrate_cluster(cluster, CLUSTER)
    for table in _single_node_tables():
        local = f"{table}_local"
        assert _columns(cluster, local) == _columns(clickhouse, table), table
        assert _columns(cluster, table) == _columns(clickhouse, table), table  # what the Distributed table shows
        assert _layout(cluster, local) == _layout(clickhouse, table), table
        assert _indexes(cluster, local) == _indexes(clickhouse, table), table
        single_window = re.search(r"non_replicated_deduplication_window = (\d+)", _engine_full(clickhouse, table))
        cluster_window = re.search(r"\breplicated_deduplication_window = (\d+)", _engine_full(cluster, local))
        assert single_window is not None and cluster_window is not None
        assert int(cluster_window.group(1)) >= int(single_window.group(1)) > 0


def test_cluster_retention_sets_the_ttl_on_the_local_tables(cluster_database: OneServer) -> None:
    client = cluster_database.as_client
    migrate_cluster(client, CLUSTER, retention_days=7)
    for table in _single_node_tables():
        assert "TTL toDateTime(ts) + toIntervalDay(7)" in _engine_full(client, f"{table}_local")
    assert any(f"_local ON CLUSTER '{CLUSTER}' MODIFY TTL" in s for s in cluster_database.sent)

    cluster_database.sent.clear()
    migrate_cluster(client, CLUSTER, retention_days=7)
    assert not any("ALTER" in s for s in cluster_database.sent)  # unchanged: no rewrite of every part

    migrate_cluster(client, CLUSTER, retention_days=0)
    for table in _single_node_tables():
        assert "TTL" not in _engine_full(client, f"{table}_local")


def test_an_edited_cluster_migration_is_refused(cluster_database: OneServer, tmp_path: Path) -> None:
    folder = tmp_path / "cluster"
    shutil.copytree(CLUSTER_MIGRATIONS_DIR, folder)
    migrate_cluster(cluster_database.as_client, CLUSTER, folder=folder)

    edited = folder / "0001_events.sql"
    edited.write_text(edited.read_text() + "\nCREATE TABLE IF NOT EXISTS sneaky ON CLUSTER '{cluster}' (x UInt8) "
                                           "ENGINE = Memory;\n")
    with pytest.raises(MigrationError, match="0001_events.sql does not match"):
        migrate_cluster(cluster_database.as_client, CLUSTER, folder=folder)
    assert not cluster_database.command("EXISTS TABLE sneaky")


def test_a_bad_cluster_name_is_refused_before_anything_runs(cluster_database: OneServer) -> None:
    with pytest.raises(ValueError, match="cluster name"):
        migrate_cluster(cluster_database.as_client, "prod'--")
    assert cluster_database.sent == []
