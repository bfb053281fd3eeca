"""The bots report (`GET /v1/reports/bots`): bot clicks of a period by `bot_reason`.

Link previews (iMessage, WhatsApp, Slack), carriers' and mail security scanners open links
before, or instead of, the recipient; they are recorded with a reason and kept out of every
metric that credits revenue. This report shows which of them hit the links, how often and on
how many links, so a marketer can tell a scanner storm from real interest.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from tracker.reports.campaign import ReportUnavailable
from tracker.reports.query import ReportQuery
from tracker.reports.spreadsheet import spreadsheet_cell

COLUMNS = ("bot_reason", "clicks", "links", "share", "first_seen", "last_seen")

# Dedup first, as the campaign report does: a click_id stored twice (an insert retried) is one click.
_BOTS_SQL = """
SELECT reason, count() AS clicks, uniqExact(link) AS links, min(click_ts) AS first_seen, max(click_ts) AS last_seen
FROM (
    SELECT any(ts) AS click_ts, any(bot_reason) AS reason, any(code) AS link
    FROM clicks
    WHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')} AND is_bot
      AND NOT hasAny(tags, {excluded:Array(String)})
    GROUP BY click_id
)
GROUP BY reason
ORDER BY clicks DESC, reason
"""
_TOTAL_SQL = """
SELECT uniqExact(click_id) FROM clicks
WHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
  AND NOT hasAny(tags, {excluded:Array(String)})
"""


@dataclass(frozen=True)
class BotsReport:
    query: ReportQuery
    total_clicks: int
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": _iso(self.query.start),
            "to": _iso(self.query.end),
            "exclude_tags": list(self.query.exclude_tags),
            "total_clicks": self.total_clicks,
            "bot_clicks": sum(row["clicks"] for row in self.rows),
            "rows": self.rows,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow([spreadsheet_cell(row[name]) for name in COLUMNS])
        return out.getvalue()


def bots_report(client: Client, query: ReportQuery) -> BotsReport:
    params = {"start": query.start, "end": query.end, "excluded": list(query.exclude_tags)}
    total = int(client.query(_TOTAL_SQL, parameters=params).result_rows[0][0])
    rows = [
        {
            "bot_reason": reason or "unknown",
            "clicks": int(clicks),
            "links": int(links),
            "share": round(int(clicks) / total, 6) if total else None,
            "first_seen": _iso(first),
            "last_seen": _iso(last),
        }
        for reason, clicks, links, first, last in client.query(_BOTS_SQL, parameters=params).result_rows
    ]
    return BotsReport(query, total, rows)


async def run_bots_report(client: Client | None, query: ReportQuery) -> BotsReport:
    if client is None:
        raise ReportUnavailable("reports need ClickHouse: TRACKER_CLICKHOUSE_URL is not connected in this process")
    try:
        return await asyncio.to_thread(bots_report, client, query)
    except Exception as exc:  # noqa: BLE001 - ClickHouse down or timing out: a 503, never a 500
        raise ReportUnavailable(f"ClickHouse did not answer ({type(exc).__name__}); retry later") from None


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`; ClickHouse hands DateTime64 values back without their time zone."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
