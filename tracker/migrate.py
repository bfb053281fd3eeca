"""Apply the numbered ClickHouse schema files in `ops/clickhouse/`, once each, in order.

A file `NNNN_name.sql` is a migration: version `NNNN`. Applied versions are recorded in `schema_migrations`
with the file's sha256, so running `tracker migrate` again applies only new files, and a file edited after it
was applied is refused instead of silently diverging from what the database really holds (the fix is a new
numbered file). Only files directly in the folder count: `cluster/` holds the Replicated variant, applied by
`tracker migrate --cluster NAME` (tracker/cluster_migrate.py).

Retention is not a migration: it follows `TRACKER_RETENTION_DAYS` on every run, as a table TTL.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "ops" / "clickhouse"
RETENTION_TABLES = ("clicks", "conversions", "dead_letters")

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
RECORD_COLUMNS = ["version", "name", "checksum", "applied_at"]
RECORD_TYPES = ["String", "String", "String", "DateTime64(3, 'UTC')"]
# How ClickHouse prints back the TTL we set, e.g. "TTL toDateTime(ts) + toIntervalDay(7)" in engine_full.
OUR_TTL_RE = re.compile(r"\bTTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)(?:\s+SETTINGS\b|\s*$)")
ANY_TTL_RE = re.compile(r"\bTTL\b")


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


def applied_versions(client: Client) -> list[str]:
    """Versions recorded in `schema_migrations`, oldest first; read-only (creates nothing)."""
    return sorted(recorded_checksums(client))


def migrate(client: Client, retention_days: int = 0, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the pending migrations of `folder` in the client's database, then set retention.

    Returns the versions applied by this call (empty when the schema was up to date). Every applied file is
    checked against its recorded checksum before anything runs, so an edited file changes nothing.
    Versions recorded but absent from `folder` are ignored: an older release keeps working during a rollout.
    """
    if retention_days < 0:
        raise ValueError(f"retention_days must be >= 0, got {retention_days}")
    migrations = load_migrations(folder)
    client.command(_CREATE_SCHEMA_MIGRATIONS)
    recorded = recorded_checksums(client)
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"{migration.name} was edited after it was applied (sha256 {checksum[:12]}… is now "
                f"{migration.checksum[:12]}…); migrations are never edited: restore it and add a new numbered file"
            )
    applied: list[str] = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        for number, statement in enumerate(migration.statements(), start=1):
            try:
                client.command(statement)
            except Exception as exc:
                raise MigrationError(f"{migration.name}, statement {number}: {exc}") from exc
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=RECORD_COLUMNS,
            column_type_names=RECORD_TYPES,
        )
        applied.append(migration.version)
    apply_retention(client, retention_days)
    return applied


def apply_retention(client: Client, days: int) -> None:
    """Events older than `days` are dropped by a table TTL; 0 keeps them forever (removes a TTL set before).

    The TTL is only changed when it differs, because MODIFY TTL rewrites the TTL of every existing part.
    """
    for table in RETENTION_TABLES:
        engine_full = client.query(
            "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {table:String}",
            parameters={"table": table},
        ).result_rows[0][0]
        ours = OUR_TTL_RE.search(engine_full)
        if days > 0 and (ours is None or int(ours.group(1)) != days):
            client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime(ts) + INTERVAL {int(days)} DAY")
        elif days == 0 and ANY_TTL_RE.search(engine_full):
            client.command(f"ALTER TABLE {table} REMOVE TTL")
