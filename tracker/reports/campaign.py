"""The campaign report (`GET /v1/reports/campaigns`): message, click and attributed revenue metrics per group.

A request is parsed once into a frozen `ReportQuery` (query.py); `campaign_report` runs four queries and returns
a `Report` that renders itself as JSON or CSV; `run_report` runs it off the event loop for the API and the
dashboard, and says `ReportUnavailable` when ClickHouse cannot answer.

Where the work happens: ClickHouse counts messages and clicks and credits purchases (attribution.py) and returns
one row per group (per group, share size and kind of credit for the credit), so Python only touches a few rows
per group, never a click. Messages are counted on their own group keys, in the period they were sent in.
Money stays exact end to end: ClickHouse adds Decimals, Python applies the linear 1/n shares to those sums in
integers over a common denominator, and each figure is rounded once, half away from zero, at the end. Each figure
is the rounding of its own exact value, so net_revenue can differ by a cent from the rounded revenue minus the
rounded refunds. Rows are sorted by the net_revenue they show, then clicks, then the keys.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from tracker.reports.attribution import (
    CREDITED_SQL,
    CREDITED_TYPES,
    MICRO_TYPES,
    credit_sql,
    formula,
    messages_sql,
    view_window_sql,
    window_sql,
)
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.reports.spreadsheet import spreadsheet_cell
from tracker.settings import Settings

METRICS: tuple[str, ...] = (
    "clicks", "human_clicks", "bot_clicks", "unique_clickers", "orders", "revenue", "refunds",
    "net_revenue", "aov", "conversion_rate", "revenue_per_click",
    "sent", "delivered", "failed", "delivery_rate", "click_rate", "click_orders", "view_orders", "click_revenue",
    "view_revenue", "revenue_per_message", *MICRO_TYPES, "subscriptions", "recurring_revenue",
)

# Group key -> clicks column. `day` is not here: it is the click's day for click metrics, the purchase's for
# order metrics, the day a message was sent for message metrics.
GROUP_COLUMNS: dict[str, str] = {
    "channel": "channel", "source": "utm_source", "medium": "utm_medium", "campaign": "campaign",
    "message": "message", "content": "utm_content", "term": "utm_term",
    "code": "code", "domain": "domain", "device_type": "device_type", "os": "os", "browser": "browser",
}
# Group key -> messages column (MESSAGES_SQL), None for a key a message does not have (it counts under '').
MESSAGE_COLUMNS: dict[str, str | None] = {
    "channel": "channel", "source": "utm_source", "medium": "utm_medium", "campaign": "campaign",
    "message": "message", "content": "utm_content", "term": "utm_term",
    "code": "code", "domain": "domain", "device_type": None, "os": None, "browser": None,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")
_UNITS = 10**4  # conversions.value is Decimal(18, 4)

# Dedup first: a click_id stored twice (an insert retried) is one click.
_CLICK_METRICS_SQL = """
SELECT <group_columns>, count() AS clicks, countIf(NOT bot) AS human_clicks, countIf(bot) AS bot_clicks,
       uniqExactIf(
           (recipient, if(recipient = '', ip, ''), if(recipient = '', toDate(click_ts), toDate(0))), NOT bot
       ) AS unique_clickers
FROM (
    SELECT any(ts) AS click_ts, any(is_bot) AS bot, any(recipient_ref) AS recipient, any(ip_ref) AS ip<click_columns>
    FROM clicks
    WHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
      AND NOT hasAny(tags, {excluded:Array(String)})
    GROUP BY click_id
)
GROUP BY <group_names>
"""

# Messages sent in the period (first heard of in it), on their own group keys; excluded tags are not counted.
_MESSAGE_METRICS_SQL = f"""
SELECT <group_columns>, countIf(was_sent) AS sent, countIf(was_delivered) AS delivered, countIf(was_failed) AS failed
FROM ({messages_sql("ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}")})
WHERE first_ts >= {{start:DateTime64(3, 'UTC')}} AND first_ts < {{end:DateTime64(3, 'UTC')}}
  AND NOT hasAny(tags, {{excluded:Array(String)}})
GROUP BY <group_names>
"""

# Purchases of the period per currency: picks the default currency and gives the totals that the attributed
# orders are subtracted from to get the unattributed ones.
_PURCHASE_TOTALS_SQL = f"""
SELECT currency, countIf(kind = 'purchase') AS orders, toDecimal128(sumIf(value, kind = 'purchase'), 4) AS revenue,
       count() AS conversions
FROM ({CREDITED_SQL})
WHERE currency != ''
GROUP BY currency
"""


@dataclass(frozen=True)
class Report:
    """The answer: rows hold exact, already rounded Decimals (money 2 places, orders 4, rates 6) or None."""

    query: ReportQuery
    currency: str
    formula: str
    rows: list[dict[str, object]]
    unattributed_orders: int = 0
    unattributed_revenue: Decimal = field(default_factory=lambda: Decimal("0.00"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: numbers as JSON numbers (counts int, the rest float), `to` the exclusive end."""
        return {
            "from": iso_time(self.query.start),
            "to": iso_time(self.query.end),
            "group_by": list(self.query.group_by),
            "model": self.query.model,
            "window": self.query.window,
            "view_window": self.query.view_window,
            "currency": self.currency,
            "exclude_tags": list(self.query.exclude_tags),
            "formula": self.formula,
            "unattributed_orders": self.unattributed_orders,
            "unattributed_revenue": float(self.unattributed_revenue),
            "rows": [{name: json_number(value) for name, value in row.items()} for row in self.rows],
        }

    def csv_filename(self) -> str:
        return self.query.csv_filename("campaigns")

    def to_csv(self) -> str:
        """Group keys in group_by order, then METRICS; plain fixed-point numbers, empty for null, text cells
        that a spreadsheet would run as a formula prefixed with `'` (tracker.reports.spreadsheet)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*self.query.group_by, *METRICS])
        for row in self.rows:
            writer.writerow([spreadsheet_cell(row[name]) for name in (*self.query.group_by, *METRICS)])
        return out.getvalue()


class ReportUnavailable(RuntimeError):
    """ClickHouse is not connected in this process or did not answer; the message says which, for a 503."""


async def run_report(client: Client | None, query: ReportQuery, settings: Settings) -> Report:
    """`campaign_report` in a worker thread (see `in_worker_thread`)."""
    return await in_worker_thread(client, campaign_report, query, settings)


async def in_worker_thread(client: Client | None, report: Callable[..., T], *args: Any) -> T:
    """`report(client, *args)` in a worker thread. Raises InvalidReport (a 400) or ReportUnavailable (a 503),
    never anything else: a ClickHouse that is down or slow is the caller's 503, not a 500."""
    if client is None:
        raise ReportUnavailable("reports need ClickHouse: TRACKER_CLICKHOUSE_URL is not connected in this process")
    try:
        return await asyncio.to_thread(report, client, *args)
    except InvalidReport:
        raise
    except Exception as exc:  # noqa: BLE001 - ClickHouse down or timing out: say so, never a 500
        raise ReportUnavailable(f"ClickHouse did not answer ({type(exc).__name__}); retry later") from None


@dataclass(frozen=True)
class Credit:
    """What every query crediting conversions shares: its bound parameters, the window's SQL expression and the
    view window's (None while view-through is off), and the report's currency with the period's purchase totals."""

    params: dict[str, object]
    window: str
    view_window: str | None
    currency: str
    totals: Mapping[str, tuple[int, Decimal]]  # currency -> (orders, revenue) of the period's purchases


def credit_context(client: Client, query: ReportQuery, settings: Settings) -> Credit:
    """The parameters of `query`, and its currency: the one asked for, else the most common (one query)."""
    window_expr, window_params, longest = window_sql(query.window, settings)
    view_expr, view_params, longest_view = view_window_sql(query.view_window, settings)
    start_ms, end_ms = _epoch_ms(query.start), _epoch_ms(query.end)
    params: dict[str, object] = {
        "start": _ch_time(start_ms),
        "end": _ch_time(end_ms),
        # Clicks up to the longest window before the start can still be credited with a purchase inside it.
        "scan_from": _ch_time(max(0, start_ms - longest * 1000)),
        "view_scan_from": _ch_time(max(0, start_ms - longest_view * 1000)),
        "excluded": list(query.exclude_tags),
        "credited": list(CREDITED_TYPES),
        **window_params,
        **view_params,
    }
    counted = client.query(_PURCHASE_TOTALS_SQL, parameters=params).result_rows
    totals = {row[0]: (int(row[1]), Decimal(row[2])) for row in counted}
    conversions = {row[0]: int(row[3]) for row in counted}
    currency = query.currency if query.currency is not None else _most_common(totals, conversions)
    params["currency"] = currency
    return Credit(params, window_expr, view_expr if longest_view else None, currency, totals)


def campaign_report(client: Client, query: ReportQuery, settings: Settings) -> Report:
    """Run the report. Blocking (the endpoint runs it in a thread); five queries, each one pass over its rows."""
    context = credit_context(client, query, settings)
    params, currency, totals = context.params, context.currency, context.totals

    groups: dict[tuple[str, ...], _Group] = {}
    n_keys = len(query.group_by)
    for row in client.query(_click_metrics_sql(query.group_by), parameters=params).result_rows:
        group = groups.setdefault(tuple(row[:n_keys]), _Group())
        group.clicks, group.human_clicks, group.bot_clicks, group.unique_clickers = (int(v) for v in row[n_keys:])
    for row in client.query(_message_metrics_sql(query.group_by), parameters=params).result_rows:
        group = groups.setdefault(tuple(row[:n_keys]), _Group())
        group.sent, group.delivered, group.failed = (int(v) for v in row[n_keys:])

    keys = [(key, GROUP_COLUMNS[key], MESSAGE_COLUMNS[key]) for key in query.group_by if key != "day"]
    credit = credit_sql(query.model, keys, query.group_by, context.window, context.view_window)
    credit_rows = client.query(credit, parameters=params).result_rows
    # Every share 1/n becomes (denominator / n) / denominator: plain integer sums, exact, and fast over
    # thousands of groups (Fraction would normalise at every addition).
    denominator = math.lcm(*(int(row[n_keys]) for row in credit_rows))
    for row in credit_rows:
        share, by_view, kind, credits, value_sum, refund_sum, renewal_sum = row[n_keys:]
        weight = denominator // int(share)
        group = groups.setdefault(tuple(row[:n_keys]), _Group())
        if kind == "purchase":
            credit_of = group.view if by_view else group.click
            credit_of.orders += int(credits) * weight
            credit_of.revenue += units(value_sum) * weight
            group.refunds += units(refund_sum) * weight
        elif kind == "subscription":
            group.subscriptions += int(credits) * weight
            group.recurring_revenue += units(renewal_sum) * weight
        else:
            group.micro[kind] = group.micro.get(kind, 0) + int(credits) * weight

    rows = [group.row(query.group_by, keys, denominator) for keys, group in groups.items()]
    rows.sort(key=lambda r: (-_decimal(r["net_revenue"]), -_int(r["clicks"]), [r[k] for k in query.group_by]))

    total_orders, total_revenue = totals.get(currency, (0, Decimal(0)))
    attributed_orders = sum(g.click.orders + g.view.orders for g in groups.values())
    attributed_revenue = sum(g.click.revenue + g.view.revenue for g in groups.values())
    return Report(
        query=query,
        currency=currency,
        formula=formula(query.model, currency, query.window, settings, query.exclude_tags, query.view_window),
        rows=rows,
        # Every credited order's shares add up to 1, so the attributed count is a whole number.
        unattributed_orders=total_orders - attributed_orders // denominator,
        unattributed_revenue=round_half_up(
            units(total_revenue) * denominator - attributed_revenue, denominator * _UNITS, 2
        ),
    )


@dataclass
class _Credit:
    """Orders in 1/denominator and revenue in 1/(denominator * 10^4) (see _units) of one kind of credit."""

    orders: int = 0
    revenue: int = 0


@dataclass
class _Group:
    """One row being added up, exactly: orders in 1/denominator, money in 1/(denominator * 10^4) (see _units)."""

    clicks: int = 0
    human_clicks: int = 0
    bot_clicks: int = 0
    unique_clickers: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    click: _Credit = field(default_factory=_Credit)
    view: _Credit = field(default_factory=_Credit)
    refunds: int = 0  # of the orders credited here, by click or by view
    micro: dict[str, int] = field(default_factory=dict)  # micro conversions by type, in 1/denominator
    subscriptions: int = 0
    recurring_revenue: int = 0  # the renewals of the subscriptions credited here

    def row(self, group_by: tuple[str, ...], keys: tuple[str, ...], denominator: int) -> dict[str, object]:
        orders = self.click.orders + self.view.orders
        revenue = self.click.revenue + self.view.revenue
        net = revenue - self.refunds
        money = denominator * _UNITS
        humans, delivered = self.human_clicks, self.delivered
        row: dict[str, object] = dict(zip(group_by, keys, strict=True))
        row.update(
            clicks=self.clicks,
            human_clicks=humans,
            bot_clicks=self.bot_clicks,
            unique_clickers=self.unique_clickers,
            orders=round_half_up(orders, denominator, 4),
            revenue=round_half_up(revenue, money, 2),
            refunds=round_half_up(self.refunds, money, 2),
            net_revenue=round_half_up(net, money, 2),
            # revenue / orders: the denominators cancel, leaving money units per order.
            aov=round_half_up(revenue, orders * _UNITS, 2) if orders else None,
            conversion_rate=round_half_up(orders, denominator * humans, 6) if humans else None,
            revenue_per_click=round_half_up(net, money * humans, 2) if humans else None,
            sent=self.sent,
            delivered=delivered,
            failed=self.failed,
            delivery_rate=round_half_up(delivered, self.sent, 6) if self.sent else None,
            click_rate=round_half_up(self.unique_clickers, delivered, 6) if delivered else None,
            click_orders=round_half_up(self.click.orders, denominator, 4),
            view_orders=round_half_up(self.view.orders, denominator, 4),
            click_revenue=round_half_up(self.click.revenue, money, 2),
            view_revenue=round_half_up(self.view.revenue, money, 2),
            revenue_per_message=round_half_up(net, money * delivered, 2) if delivered else None,
            **{kind: round_half_up(self.micro.get(kind, 0), denominator, 4) for kind in MICRO_TYPES},
            subscriptions=round_half_up(self.subscriptions, denominator, 4),
            recurring_revenue=round_half_up(self.recurring_revenue, money, 2),
        )
        return row


def round_half_up(numerator: int, denominator: int, places: int) -> Decimal:
    """numerator / denominator rounded exactly to `places` decimals, halves away from zero (0.005 -> 0.01)."""
    magnitude = (abs(numerator) * 10**places * 2 + denominator) // (2 * denominator)
    sign = "-" if numerator < 0 and magnitude else ""
    return Decimal(f"{sign}{magnitude}E-{places}")  # from text: exact whatever the Decimal context


def units(value: Decimal) -> int:
    """A Decimal(…, 4) sum from ClickHouse as a whole number of 1/10^4 units, exactly."""
    numerator, denominator = value.as_integer_ratio()
    return numerator * (_UNITS // denominator)


def _click_metrics_sql(group_by: tuple[str, ...]) -> str:
    keys = [key for key in group_by if key != "day"]
    group_columns = ", ".join(
        "toString(toDate(click_ts)) AS g_day" if key == "day" else f"toString(k_{key}) AS g_{key}" for key in group_by
    )
    return (
        _CLICK_METRICS_SQL.replace("<group_columns>", group_columns)
        .replace("<click_columns>", "".join(f", any({GROUP_COLUMNS[key]}) AS k_{key}" for key in keys))
        .replace("<group_names>", ", ".join(f"g_{key}" for key in group_by))
    )


def _message_metrics_sql(group_by: tuple[str, ...]) -> str:
    group_columns = ", ".join(
        "toString(toDate(first_ts)) AS g_day" if key == "day"
        else f"toString({MESSAGE_COLUMNS[key]}) AS g_{key}" if MESSAGE_COLUMNS[key] else f"'' AS g_{key}"
        for key in group_by
    )
    return (
        _MESSAGE_METRICS_SQL.replace("<group_columns>", group_columns)
        .replace("<group_names>", ", ".join(f"g_{key}" for key in group_by))
    )


def _most_common(totals: Mapping[str, tuple[int, Decimal]], conversions: Mapping[str, int]) -> str:
    """The currency with most purchases in the period, else (a period of subscriptions and checkouts only) most
    credited conversions (ties: alphabetical); '' when no conversion of the period has one."""
    if not totals:
        return ""
    return min(totals, key=lambda currency: (-totals[currency][0], -conversions[currency], currency))


def _epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _ch_time(ms: int) -> str:
    """A DateTime64(3, 'UTC') parameter as text: exact to the millisecond whatever the server's time zone."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def iso_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decimal(value: object) -> Decimal:
    assert isinstance(value, Decimal)
    return value


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def json_number(value: object) -> object:
    # JSON has one number type; a rounded Decimal becomes the float that prints as the same digits.
    return float(value) if isinstance(value, Decimal) else value


