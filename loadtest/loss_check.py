"""The loss check: every 302 the load generator received is exactly one `clicks` row, every accepted pixel exactly
one `conversions` row, every acknowledged message event (a text registered, a provider's receipt) exactly one
`messages` row.

The generator's side is the files the locustfile writes (`clicks-*.txt`, `orders-*.txt`, `messages-*.txt`, one id
a line; a message event's id is source:status:message_id); the server's side is a count of rows per id for this
run (its links carry the run id as campaign, its order ids and message ids start with it). A chDB folder can
only be opened by one process, so it is read in a child process once `tracker dev` has stopped; a ClickHouse
server is read in-process, polling until the loader has caught up or the time is up.

    python -m loadtest.loss_check CLICKHOUSE_URL SQL   -> prints the rows as JSON (what the child process runs)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
RUN_ID_RE = re.compile(r"[a-z0-9_]{1,48}")
EXAMPLES = 5


@dataclass(frozen=True)
class LossReport:
    """One kind of event: what the generator got against what ClickHouse holds."""

    kind: str  # "clicks" | "conversions" | "messages"
    received: int  # distinct ids the load generator was answered for
    received_lines: int  # lines in its files; above `received` when a pixel or a receipt was sent twice
    found: int  # distinct received ids with at least one row
    lost: int  # received ids with no row
    doubled: int  # received ids with more than one row
    unexpected: int  # rows of this run whose id the generator never saw (a request cut off at stop, say)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.doubled == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def compare(kind: str, received_lines: Iterable[str], rows: Mapping[str, int]) -> LossReport:
    """`rows`: id -> number of rows in ClickHouse for this run."""
    lines = [line for line in received_lines if line]
    received = set(lines)
    lost = sorted(i for i in received if rows.get(i, 0) == 0)
    doubled = sorted(i for i in received if rows.get(i, 0) > 1)
    unexpected = sorted(set(rows) - received)
    return LossReport(
        kind=kind,
        received=len(received),
        received_lines=len(lines),
        found=len(received) - len(lost),
        lost=len(lost),
        doubled=len(doubled),
        unexpected=len(unexpected),
        examples={name: ids[:EXAMPLES] for name, ids in (("lost", lost), ("doubled", doubled),
                                                           ("unexpected", unexpected)) if ids},
    )


def read_ids(record_dir: Path, kind: str, run_id: str) -> list[str]:
    """Every line of every process's `{kind}-{run_id}-*.txt`."""
    lines: list[str] = []
    for path in sorted(record_dir.glob(f"{kind}-{run_id}-*.txt")):
        lines += path.read_text(encoding="ascii").split()
    return lines


def received(record_dir: Path, run_id: str) -> dict[str, list[str]]:
    """What the generator was answered for, by the kind of row it must be."""
    return {"clicks": read_ids(record_dir, "clicks", run_id), "conversions": read_ids(record_dir, "orders", run_id),
            "messages": read_ids(record_dir, "messages", run_id)}


def queries(run_id: str) -> dict[str, str]:
    """Rows per id of this run's clicks and orders. The run id is checked, so it can be inlined."""
    if not RUN_ID_RE.fullmatch(run_id):
        raise ValueError(f"run id must be 1 to 48 of [a-z0-9_], got {run_id!r}")
    return {
        "clicks": f"SELECT click_id, count() FROM clicks WHERE campaign = '{run_id}' GROUP BY click_id",
        "conversions": f"SELECT order_id, count() FROM conversions WHERE startsWith(order_id, '{run_id}-') "
                       f"AND type = 'purchase' GROUP BY order_id",
        "messages": f"SELECT concat(source, ':', status, ':', message_id) AS event, count() FROM messages "
                    f"WHERE startsWith(message_id, '{run_id}-') GROUP BY event",
    }


def query_in_child(clickhouse_url: str, sql: str, timeout: float = 300.0) -> list[list[Any]]:
    """Run `sql` in a separate process: the way to read a chDB folder that another process has used."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "loadtest.loss_check", clickhouse_url, sql], cwd=REPO, env=env,
                          capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"ClickHouse query failed: {done.stderr.decode(errors='replace')[-2000:]}")
    rows: list[list[Any]] = orjson.loads(done.stdout)
    return rows


def query(clickhouse_url: str, sql: str) -> list[list[Any]]:
    from tracker.clickhouse.connect import connect

    return [list(row) for row in connect(clickhouse_url).query(sql).result_rows]


def check_stopped_chdb(chdb_url: str, record_dir: Path, run_id: str) -> list[LossReport]:
    """The loss check against the chDB folder of a `tracker dev` that has stopped (and so drained its stream)."""
    expected = received(record_dir, run_id)
    return [compare(kind, expected[kind], {str(i): int(n) for i, n in query_in_child(chdb_url, sql)})
            for kind, sql in queries(run_id).items()]


def check_live(clickhouse_url: str, record_dir: Path, run_id: str, timeout: float) -> list[LossReport]:
    """The loss check against a ClickHouse server fed by a running loader: retried until nothing is missing
    (the loader may still be behind) or `timeout` passes, then the last answer stands."""
    expected = received(record_dir, run_id)
    deadline = time.monotonic() + timeout
    while True:
        reports = [compare(kind, expected[kind], {str(i): int(n) for i, n in query(clickhouse_url, sql)})
                   for kind, sql in queries(run_id).items()]
        if all(report.lost == 0 for report in reports) or time.monotonic() > deadline:
            return reports
        time.sleep(1.0)  # waiting on an external loader we cannot be notified by


if __name__ == "__main__":
    sys.stdout.buffer.write(orjson.dumps(query(sys.argv[1], sys.argv[2])))
