"""Apply the cluster variant of the schema, `ops/clickhouse/cluster/NNNN_*.sql`, on a ClickHouse cluster.

The single-node rules of `tracker.migrate` hold unchanged (numbered files, applied once each, in order, an edited
file refused by its checksum); this module only adds what a cluster needs:

- the files are templates: `{cluster}` and `{database}` are filled in here, `{shard}` and `{replica}` are left for
  each server to expand from its own macros;
- every statement carries `ON CLUSTER`, so it reaches every server; a failing server fails the run, and running
  it again is safe (`IF NOT EXISTS`);
- `schema_migrations` is itself replicated to every server of every shard, so whichever server the URL reaches
  next time knows what was applied;
- retention is a TTL on the `*_local` tables, which hold the data; the Distributed tables have none.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client

from tracker.migrate import (
    ANY_TTL_RE,
    MIGRATIONS_DIR,
    OUR_TTL_RE,
    RECORD_COLUMNS,
    RECORD_TYPES,
    RETENTION_TABLES,
    Migration,
    MigrationError,
    load_migrations,
    recorded_checksums,
)

CLUSTER_MIGRATIONS_DIR = MIGRATIONS_DIR / "cluster"

# Names go into SQL string literals and Keeper paths: no quotes, slashes or braces can sneak in.
_CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_DATABASE_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
# Every server holds every row (one Keeper path without {shard}): the table is tiny, and any server can answer.
# A replica name must be unique among all servers sharing the path, and {replica} alone may repeat across shards.
_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER '{cluster}'
(
    version String,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{shard}-{replica}',
                                      applied_at)
ORDER BY version
"""


class ClusterTemplate:
    """Fills the `{cluster}` and `{database}` placeholders of the cluster schema files, after checking both."""

    def __init__(self, cluster: str, database: str) -> None:
        if not _CLUSTER_NAME_RE.fullmatch(cluster):
            raise ValueError(f"cluster name must be letters, digits or '_', got {cluster!r}")
        if not _DATABASE_NAME_RE.fullmatch(database):
            raise ValueError(f"database name must be letters, digits, '_' or '-' for a cluster, got {database!r}")
        self.cluster = cluster
        self.database = database

    def render(self, sql: str) -> str:
        # Plain replacement, not str.format: the other braces ({shard}, {replica}) belong to ClickHouse.
        return sql.replace("{cluster}", self.cluster).replace("{database}", self.database)


def migrate_cluster(
    client: Client, cluster: str, retention_days: int = 0, folder: Path = CLUSTER_MIGRATIONS_DIR
) -> list[str]:
    """Apply the pending cluster migrations ON CLUSTER `cluster` in the client's database, then set retention.

    Returns the versions applied by this call. Like `tracker.migrate.migrate`, every applied file is checked
    against its recorded checksum before anything runs. The checksum is that of the template, so it does not
    depend on the cluster or database name.
    """
    if retention_days < 0:
        raise ValueError(f"retention_days must be >= 0, got {retention_days}")
    template = ClusterTemplate(cluster, str(client.command("SELECT currentDatabase()")))
    migrations = load_migrations(folder)
    # The URL's database exists on the server it points to; the others may not have it yet.
    _run(client, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(template.database)} ON CLUSTER '{cluster}'")
    _run(client, template.render(_CREATE_SCHEMA_MIGRATIONS))
    recorded = recorded_checksums(client)
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"cluster/{migration.name} does not match what was applied (sha256 {checksum[:12]}… is now "
                f"{migration.checksum[:12]}…): it was edited, or the single-node schema was applied to this "
                "database; migrations are never edited: restore it and add a new numbered file"
            )
    applied: list[str] = []
    for migration in migrations:
        if migration.version not in recorded:
            _apply(client, template, migration)
            applied.append(migration.version)
    apply_cluster_retention(client, template, retention_days)
    return applied


def _apply(client: Client, template: ClusterTemplate, migration: Migration) -> None:
    for number, statement in enumerate(migration.statements(), start=1):
        try:
            client.command(template.render(statement))
        except Exception as exc:
            raise MigrationError(f"cluster/{migration.name}, statement {number}: {exc}") from exc
    client.insert(
        "schema_migrations",
        [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
        column_names=RECORD_COLUMNS,
        column_type_names=RECORD_TYPES,
    )


def _run(client: Client, statement: str) -> None:
    try:
        client.command(statement)
    except Exception as exc:
        raise MigrationError(f"{statement.strip().splitlines()[0]}: {exc}") from exc


def apply_cluster_retention(client: Client, template: ClusterTemplate, days: int) -> None:
    """The TTL of `tracker.migrate.apply_retention`, set ON CLUSTER on the `*_local` tables that hold the rows.

    The current TTL is read on the server the client reaches; ON CLUSTER DDL keeps every server's the same.
    """
    for table in RETENTION_TABLES:
        local = f"{table}_local"
        rows = client.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}",
            parameters={"table": local},
        ).result_rows
        if not rows:
            raise MigrationError(f"{local} is missing: the cluster schema is not applied in this database")
        engine_full = rows[0][0]
        ours = OUR_TTL_RE.search(engine_full)
        on_cluster = f"ALTER TABLE {local} ON CLUSTER '{template.cluster}'"
        if days > 0 and (ours is None or int(ours.group(1)) != days):
            _run(client, f"{on_cluster} MODIFY TTL toDateTime(ts) + INTERVAL {int(days)} DAY")
        elif days == 0 and ANY_TTL_RE.search(engine_full):
            _run(client, f"{on_cluster} REMOVE TTL")
