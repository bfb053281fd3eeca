"""The reconciliation (`GET /v1/reports/reconciliation`): what the store received against what the links explain.

Per day and per source of the orders (`pixel`, `api`, `js`, `shopify`, `woocommerce`, `import`): the purchases
received (each order once, on the day of its first row, in the report currency) and their revenue, the part of
them the attribution credits to a click (or, with view-through on, to a delivered message), the rest, and the
attributed share of revenue; and the refunds received that day. A merchant compares `orders` and `revenue` with
the e-commerce platform's own numbers (they should agree: a gap is a webhook or pixel that did not arrive) and
reads `attributed_share` as how much of the revenue the texts explain. Which click is credited does not change
whether an order is attributed, so there is no `model`: only the window, the view window and excluded tags.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from tracker.reports.attribution import reconciliation_sql
from tracker.reports.campaign import credit_context, in_worker_thread, iso_time, json_number, round_half_up, units
from tracker.reports.query import ReportQuery
from tracker.settings import Settings

PARAMETERS = ("from", "to", "currency", "window", "view_window", "exclude_tags", "format")
COLUMNS = ("day", "source", "orders", "revenue", "attributed_orders", "attributed_revenue", "unattributed_orders",
           "unattributed_revenue", "attributed_share", "refunds")

# Refunds received in the period: each refund once (its first row per refund_id), on the day it arrived, in the
# report currency, by the source that sent it. Not capped at the order: this is what the store reported.
_REFUNDS_SQL = """
SELECT toString(toDate(first_ts)) AS day, kept.2 AS source, toDecimal128(sum(kept.1), 4) AS refunds
FROM (
    SELECT order_id, refund_id, min(ts) AS first_ts, argMin((value, source, currency), ts) AS kept
    FROM conversions
    WHERE type = 'refund' AND ts < {end:DateTime64(3, 'UTC')}
      AND (order_id, refund_id) IN (
          SELECT order_id, refund_id FROM conversions
          WHERE type = 'refund' AND ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      )
    GROUP BY order_id, refund_id
)
WHERE first_ts >= {start:DateTime64(3, 'UTC')} AND kept.3 = {currency:String}
GROUP BY day, source
"""


@dataclass
class _Tally:
    orders: int = 0
    revenue: int = 0  # in 1/10^4 of the currency
    attributed_orders: int = 0
    attributed_revenue: int = 0
    refunds: int = 0

    def add(self, other: _Tally) -> None:
        self.orders += other.orders
        self.revenue += other.revenue
        self.attributed_orders += other.attributed_orders
        self.attributed_revenue += other.attributed_revenue
        self.refunds += other.refunds

    def figures(self) -> dict[str, object]:
        money = 10**4
        return {
            "orders": self.orders,
            "revenue": round_half_up(self.revenue, money, 2),
            "attributed_orders": self.attributed_orders,
            "attributed_revenue": round_half_up(self.attributed_revenue, money, 2),
            "unattributed_orders": self.orders - self.attributed_orders,
            "unattributed_revenue": round_half_up(self.revenue - self.attributed_revenue, money, 2),
            "attributed_share": round_half_up(self.attributed_revenue, self.revenue, 6) if self.revenue else None,
            "refunds": round_half_up(self.refunds, money, 2),
        }


@dataclass(frozen=True)
class Reconciliation:
    query: ReportQuery
    currency: str
    rows: list[dict[str, object]]  # per (day, source), by day then source
    sources: list[dict[str, object]]  # the period per source
    total: dict[str, object]  # the period, every source

    def to_json(self) -> dict[str, Any]:
        def plain(row: dict[str, object]) -> dict[str, object]:
            return {name: json_number(value) for name, value in row.items()}

        return {
            "from": iso_time(self.query.start),
            "to": iso_time(self.query.end),
            "currency": self.currency,
            "window": self.query.window,
            "view_window": self.query.view_window,
            "exclude_tags": list(self.query.exclude_tags),
            "rows": [plain(row) for row in self.rows],
            "sources": [plain(row) for row in self.sources],
            "total": plain(self.total),
        }

    def to_csv(self) -> str:
        """One line per day and source, then one per source (day `total`), then the period (`total`, `all`)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        lines = [*self.rows, *({"day": "total", **row} for row in self.sources),
                 {"day": "total", "source": "all", **self.total}]
        for row in lines:
            writer.writerow(["" if row[name] is None else row[name] for name in COLUMNS])
        return out.getvalue()


def reconciliation(client: Client, query: ReportQuery, settings: Settings) -> Reconciliation:
    """Blocking; three queries (the currency, the credited purchases, the refunds)."""
    context = credit_context(client, query, settings)
    days: dict[tuple[str, str], _Tally] = {}
    for day, source, orders, revenue, attributed_orders, attributed_revenue in client.query(
        reconciliation_sql(context.window, context.view_window), parameters=context.params
    ).result_rows:
        days[(day, source)] = _Tally(int(orders), units(revenue), int(attributed_orders), units(attributed_revenue))
    for day, source, refunds in client.query(_REFUNDS_SQL, parameters=context.params).result_rows:
        days.setdefault((day, source), _Tally()).refunds = units(refunds)
    per_source: dict[str, _Tally] = {}
    total = _Tally()
    for (_, source), tally in sorted(days.items()):
        per_source.setdefault(source, _Tally()).add(tally)
        total.add(tally)
    return Reconciliation(
        query=query,
        currency=context.currency,
        rows=[{"day": day, "source": source, **tally.figures()} for (day, source), tally in sorted(days.items())],
        sources=[{"source": source, **tally.figures()} for source, tally in sorted(per_source.items())],
        total=total.figures(),
    )


async def run_reconciliation(client: Client | None, query: ReportQuery, settings: Settings) -> Reconciliation:
    """`reconciliation` in a worker thread; ReportUnavailable (a 503) when ClickHouse cannot answer."""
    return await in_worker_thread(client, reconciliation, query, settings)
