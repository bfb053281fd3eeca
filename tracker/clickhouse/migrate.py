"""Apply the numbered schema files of `tracker/clickhouse/schema/`, once each, in order: one code path for a
single server and for a cluster.

A file `NNNN_name.sql` is a migration: version `NNNN`. Applied versions are recorded in `schema_migrations`
with the file's sha256, so running `tracker migrate` again applies only new files, and a file edited after it
was applied is refused instead of silently diverging from what the database really holds (the fix is a new
numbered file). Only files directly in a folder count.

`schema/cluster/` holds the variant for a sharded, replicated cluster (`tracker migrate --cluster NAME`). What a
cluster adds is described by a `Target`:
- its files are templates: `{cluster}` and `{database}` are filled in here, `{shard}` and `{replica}` are left
  for each server to expand from its own macros;
- every statement carries `ON CLUSTER`, so it reaches every server; a failing server fails the run, and running
  it again is safe (`IF NOT EXISTS`);
- `schema_migrations` is itself replicated to every server of every shard, so whichever server the URL reaches
  next time knows what was applied;
- retention is a TTL on the `*_local` tables, which hold the data; the Distributed tables have none.

Retention is not a migration: it follows `TRACKER_RETENTION_DAYS` on every run, as a table TTL.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client

from tracker.clickhouse.connect import connect_settings
from tracker.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "schema"
CLUSTER_MIGRATIONS_DIR = MIGRATIONS_DIR / "cluster"
RETENTION_TABLES = ("clicks", "conversions", "messages", "dead_letters")

_FILE_RE = re.compile(r"(\d{4})_.+\.sql")
# The bookkeeping table lives outside the numbered files because it must exist before we can read versions.
# ReplacingMergeTree: a version recorded twice (a crash between two runs' inserts) collapses to one row.
_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version String,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""
# On a cluster every server holds every row (one Keeper path without {shard}): the table is tiny, and any server
# can answer. A replica name must be unique among all servers sharing the path, and {replica} alone may repeat
# across shards.
_CREATE_CLUSTER_SCHEMA_MIGRATIONS = """
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
RECORD_COLUMNS = ["version", "name", "checksum", "applied_at"]
RECORD_TYPES = ["String", "String", "String", "DateTime64(3, 'UTC')"]
# How ClickHouse prints back the TTL we set, e.g. "TTL toDateTime(ts) + toIntervalDay(7)" in engine_full.
OUR_TTL_RE = re.compile(r"\bTTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)(?:\s+SETTINGS\b|\s*$)")
ANY_TTL_RE = re.compile(r"\bTTL\b")
# Names go into SQL string literals and Keeper paths: no quotes, slashes or braces can sneak in.
_CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_DATABASE_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


class MigrationError(RuntimeError):
    """The schema files and the database disagree (an edited file, a duplicate version, a failing statement)."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    checksum: str
    sql: str

    @classmethod
    def from_file(cls, path: Path) -> Migration:
        data = path.read_bytes()
        return cls(version=path.name[:4], name=path.name, checksum=hashlib.sha256(data).hexdigest(),
                   sql=data.decode("utf-8"))

    def statements(self) -> list[str]:
        """Split on `;` at line ends; whole-line `--` comments are dropped (a `;` ending one splits nothing)."""
        statements: list[str] = []
        current: list[str] = []
        for line in self.sql.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("--"):
                continue
            current.append(line.rstrip())
            if stripped.endswith(";"):
                statements.append("\n".join(current).rstrip().removesuffix(";"))
                current = []
        if current:  # a last statement without its `;`
            statements.append("\n".join(current))
        return statements


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


@dataclass(frozen=True)
class Target:
    """Where the schema goes: one server (the defaults) or every server of a cluster."""

    folder: Path = MIGRATIONS_DIR
    template: ClusterTemplate | None = None

    @property
    def label(self) -> str:
        """How a file is named in messages: `0001_events.sql` or `cluster/0001_events.sql`."""
        return "cluster/" if self.template else ""

    def render(self, sql: str) -> str:
        return self.template.render(sql) if self.template else sql

    def bookkeeping(self) -> list[str]:
        """What must exist before versions can be read: on a cluster, the database on every server too."""
        if self.template is None:
            return [_CREATE_SCHEMA_MIGRATIONS]
        database, cluster = quote_identifier(self.template.database), self.template.cluster
        # The URL's database exists on the server it points to; the others may not have it yet.
        return [f"CREATE DATABASE IF NOT EXISTS {database} ON CLUSTER '{cluster}'",
                self.render(_CREATE_CLUSTER_SCHEMA_MIGRATIONS)]

    def retention_table(self, table: str) -> tuple[str, str]:
        """The table holding the rows of `table` and the `ALTER TABLE` that reaches it."""
        if self.template is None:
            return table, f"ALTER TABLE {table}"
        return f"{table}_local", f"ALTER TABLE {table}_local ON CLUSTER '{self.template.cluster}'"


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The `NNNN_*.sql` files directly in `folder`, by version; two files with one version are refused."""
    migrations = sorted(
        (Migration.from_file(p) for p in folder.iterdir() if p.is_file() and _FILE_RE.fullmatch(p.name)),
        key=lambda m: m.version,
    )
    for before, after in zip(migrations, migrations[1:], strict=False):
        if before.version == after.version:
            raise MigrationError(f"two migrations share version {before.version}: {before.name}, {after.name}")
    return migrations


def recorded_checksums(client: Client) -> dict[str, str]:
    """version -> checksum of what was applied; empty when nothing ever was (no table yet)."""
    if not client.command("EXISTS TABLE schema_migrations"):
        return {}
    rows = client.query(
        "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version"
    ).result_rows
    return {version: checksum for version, checksum in rows}


def migrate(client: Client, retention_days: int = 0, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations of `folder` in the client's database, then set retention.

    Returns the versions applied by this call (empty when the schema was up to date). Every applied file is
    checked against its recorded checksum before anything runs, so an edited file changes nothing.
    Versions recorded but absent from `folder` are ignored: an older release keeps working during a rollout.
    """
    return apply(client, Target(folder), retention_days)


def migrate_cluster(
    client: Client, cluster: str, retention_days: int = 0, folder: Path = CLUSTER_MIGRATIONS_DIR
) -> list[str]:
    """`migrate` ON CLUSTER `cluster`, from the cluster variant of the schema.

    The checksum is that of the template, so it does not depend on the cluster or database name.
    """
    if retention_days < 0:
        raise ValueError(f"retention_days must be >= 0, got {retention_days}")
    template = ClusterTemplate(cluster, str(client.command("SELECT currentDatabase()")))
    return apply(client, Target(folder, template), retention_days)


def apply(client: Client, target: Target, retention_days: int) -> list[str]:
    """The one migration loop: check every recorded checksum, apply what is new, record it, set retention."""
    if retention_days < 0:
        raise ValueError(f"retention_days must be >= 0, got {retention_days}")
    migrations = load_migrations(target.folder)
    for statement in target.bookkeeping():
        _run(client, statement, statement.strip().splitlines()[0])
    recorded = recorded_checksums(client)
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            other_schema = ", or the single-node schema was applied to this database" if target.template else ""
            raise MigrationError(
                f"{target.label}{migration.name} does not match what was applied (sha256 {checksum[:12]}… is now "
                f"{migration.checksum[:12]}…): it was edited{other_schema}; migrations are never edited: "
                "restore it and add a new numbered file"
            )
    applied: list[str] = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        for number, statement in enumerate(migration.statements(), start=1):
            _run(client, target.render(statement), f"{target.label}{migration.name}, statement {number}")
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=RECORD_COLUMNS,
            column_type_names=RECORD_TYPES,
        )
        applied.append(migration.version)
    apply_retention(client, retention_days, target)
    return applied


def apply_retention(client: Client, days: int, target: Target | None = None) -> None:
    """Events older than `days` are dropped by a table TTL; 0 keeps them forever (removes a TTL set before).

    The TTL is only changed when it differs, because MODIFY TTL rewrites the TTL of every existing part. On a
    cluster the current TTL is read on the server the client reaches; ON CLUSTER DDL keeps every server's the same.
    """
    target = target or Target()
    for table in RETENTION_TABLES:
        holder, alter = target.retention_table(table)
        rows = client.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}",
            parameters={"table": holder},
        ).result_rows
        if not rows:
            raise MigrationError(f"{holder} is missing: the {target.label}schema is not applied in this database")
        engine_full = rows[0][0]
        ours = OUR_TTL_RE.search(engine_full)
        if days > 0 and (ours is None or int(ours.group(1)) != days):
            _run(client, f"{alter} MODIFY TTL toDateTime(ts) + INTERVAL {int(days)} DAY", f"{holder} TTL")
        elif days == 0 and ANY_TTL_RE.search(engine_full):
            _run(client, f"{alter} REMOVE TTL", f"{holder} TTL")


def run_migrate(settings: Settings, cluster: str) -> None:
    """`tracker migrate [--cluster NAME]`: one line saying what was applied, or one line saying why not (exit 1)."""
    client = connect_settings(settings)
    try:
        if cluster:
            applied = migrate_cluster(client, cluster, retention_days=settings.retention_days)
        else:
            applied = migrate(client, retention_days=settings.retention_days)
    except (MigrationError, ValueError) as exc:
        print(f"tracker migrate: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none, schema is up to date'}")


def _run(client: Client, statement: str, what: str) -> None:
    try:
        client.command(statement)
    except Exception as exc:
        raise MigrationError(f"{what}: {exc}") from exc
