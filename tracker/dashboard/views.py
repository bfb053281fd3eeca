"""What the dashboard shows: its filters, the three reports of a page, and the numbers as people read them.

The templates (`templates/`) lay the page out; this module hands them values: the formatting functions are
registered as template filters, and `kpis`, `channel_cards` and `roi_rows` turn reports into rows to print.
Everything that reaches a template is plain data; the templates escape it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tracker.reports.campaign import METRICS, Report, campaign_report
from tracker.reports.query import ReportQuery
from tracker.reports.reconciliation import Reconciliation, reconciliation
from tracker.settings import Settings

FILTERS: tuple[str, ...] = ("from", "to", "group_by", "model", "window", "currency", "exclude_tags", "view_window")
DEFAULT_GROUP_BY = "campaign,message"
DEFAULT_DAYS = 30
GROUP_PRESETS = ("campaign,message", "campaign", "channel", "channel,campaign", "source,medium,campaign",
                 "campaign,message,content", "day", "channel,day")
# One name for one number everywhere on the page: "Human clicks" on the cards, the KPIs and the table alike, and
# the table's total of humans and bots is "All clicks", never a bare "Clicks" that could mean either.
METRIC_LABELS: dict[str, str] = {
    "clicks": "All clicks", "human_clicks": "Human clicks", "bot_clicks": "Bot clicks", "unique_clickers": "Unique",
    "orders": "Orders", "revenue": "Revenue", "refunds": "Refunds", "net_revenue": "Net revenue", "aov": "AOV",
    "conversion_rate": "Conv. rate", "revenue_per_click": "Rev. / human click",
    "sent": "Sent", "delivered": "Delivered", "failed": "Failed", "delivery_rate": "Deliv. rate",
    "click_rate": "Click rate", "click_orders": "Click orders", "view_orders": "View orders",
    "click_revenue": "Click revenue", "view_revenue": "View revenue", "revenue_per_message": "Rev. / message",
    "add_to_cart": "Add to cart", "checkout": "Checkouts", "signup": "Signups", "lead": "Leads",
    "subscriptions": "Subscriptions", "recurring_revenue": "Recurring rev.",
}
# What each column counts, for the table's header tooltips.
METRIC_HINTS: dict[str, str] = {
    "clicks": "human and bot clicks together", "human_clicks": "clicks by people, the ones that can earn credit",
    "bot_clicks": "link previews, scanners, scripts and prefetches: counted apart, never credited",
    "unique_clickers": "distinct recipients (else distinct addresses per day)",
    "conversion_rate": "orders / human clicks", "revenue_per_click": "net revenue / human clicks",
    "aov": "revenue / orders",
}
MODEL_LABELS = {"last_click": "Last click", "first_click": "First click", "linear": "Linear (split)"}
NO_CLICKHOUSE = (
    "Reports need ClickHouse, and this admin process is not connected to it. Set TRACKER_CLICKHOUSE_URL "
    "(chdb://PATH or http(s)://user:pass@host:8123/db) and restart it; the links and conversions APIs keep working."
)
CHANNEL_METRICS = tuple((name, METRIC_LABELS[name]) for name in ("revenue", "orders", "human_clicks",
                                                                  "conversion_rate"))


@dataclass(frozen=True)
class Notice:
    title: str
    detail: str = ""
    error: bool = False


@dataclass(frozen=True)
class Reports:
    """The reports one page needs, all with the same filters and currency."""

    table: Report
    channels: Report
    daily: Report
    reconciliation: Reconciliation


@dataclass(frozen=True)
class ConversionStep:
    """One step of the conversion funnel: a credited count and its share of the human clicks."""

    metric: str
    label: str
    raw: str
    text: str
    share: Decimal  # of the human clicks, 0..1 (a step may pass 1: one click can lead to several carts)


@dataclass(frozen=True)
class SourceLine:
    """One line of the reconciliation panel: a source of orders (or `all`) for the period."""

    source: str
    orders: str
    revenue: str
    attributed: str
    share_raw: str
    share: str
    refunds: str


@dataclass(frozen=True)
class Kpi:
    metric: str
    label: str
    value: str
    sub: str


@dataclass(frozen=True)
class ChannelValue:
    metric: str
    label: str
    raw: str
    text: str


@dataclass(frozen=True)
class FunnelStep:
    """One step of the delivery funnel: how many, and what share of the texts sent and of the step before."""

    metric: str
    label: str
    raw: str
    value: str
    of_sent: Decimal  # 0..1: the bar
    note: str


@dataclass(frozen=True)
class ChannelCard:
    channel: str
    share: Decimal  # of the period's revenue, 0..1
    values: list[ChannelValue]
    bots_raw: str
    bots: str


def dashboard_filters(params: Mapping[str, str], today: date) -> dict[str, str]:
    """The form's values with the dashboard's defaults filled in (whole days, by campaign and message).

    Explicit, so the CSV link and the shared URL name exactly the rows on the screen.
    """
    given = {name: params.get(name, "").strip() for name in FILTERS}
    defaults = {
        "from": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "to": today.isoformat(),
        "group_by": DEFAULT_GROUP_BY,
        "model": "last_click",
    }
    return {name: given[name] or defaults.get(name, "") for name in FILTERS}


def run_reports(client: Any, query: ReportQuery, settings: Settings) -> Reports:
    """Blocking, one query after another on one client. The currency of the table is pinned for the other two."""
    table = campaign_report(client, query, settings)
    pinned = replace(query, currency=table.currency or None)
    return Reports(
        table=table,
        channels=campaign_report(client, replace(pinned, group_by=("channel",)), settings),
        daily=campaign_report(client, replace(pinned, group_by=("day",)), settings),
        reconciliation=reconciliation(client, pinned, settings),
    )


# --- numbers as people read them (template filters) -------------------------------------------------------------

def money(value: object, currency: str = "") -> str:
    if value is None:
        return "–"
    text = f"{Decimal(str(value)):,.2f}"
    return f"{text} {currency}" if currency else text


def count(value: object) -> str:
    return "–" if value is None else f"{int(str(value)):,}"


def orders_text(value: object) -> str:
    """Whole orders as integers; linear credit keeps its fraction."""
    if value is None:
        return "–"
    number = Decimal(str(value))
    return f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.2f}"


def percent(value: object) -> str:
    return "–" if value is None else f"{Decimal(str(value)) * 100:.1f}%"


MONEY_METRICS = frozenset({"revenue", "refunds", "net_revenue", "aov", "revenue_per_click", "click_revenue",
                           "view_revenue", "revenue_per_message", "recurring_revenue"})
# Credited counts: whole numbers unless a linear split made fractions.
ORDER_METRICS = frozenset({"orders", "click_orders", "view_orders", "add_to_cart", "checkout", "signup", "lead",
                           "subscriptions"})
RATE_METRICS = frozenset({"conversion_rate", "delivery_rate", "click_rate"})


def metric_text(value: object, name: str, currency: str) -> str:
    if name in MONEY_METRICS:
        return money(value, currency)
    if name in ORDER_METRICS:
        return orders_text(value)
    if name in RATE_METRICS:
        return percent(value)
    return count(value)


def compact_window(seconds: int) -> str:
    """604800 -> '7d', 5400 -> '90m': the way the window parameter is written."""
    unit, size = next((u, n) for u, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)) if seconds % n == 0)
    return f"{seconds // size}{unit}"


def raw(value: object) -> str:
    """A number as the report holds it, for data-value attributes; '' for null."""
    return "" if value is None else str(value)


FILTERS_FOR_TEMPLATES = {
    "money": money, "integer": count, "orders_text": orders_text, "percent": percent, "metric_text": metric_text,
}


# --- the page's parts --------------------------------------------------------------------------------------------

def kpis(reports: Reports) -> list[Kpi]:
    rows, currency = reports.channels.rows, reports.table.currency
    revenue, refunds, net = _sum(rows, "revenue"), _sum(rows, "refunds"), _sum(rows, "net_revenue")
    orders, humans, bots = _sum(rows, "orders"), _sum(rows, "human_clicks"), _sum(rows, "bot_clicks")
    return [
        Kpi("net_revenue", "Net revenue", money(net, currency), f"{money(revenue)} sales − {money(refunds)} refunds"),
        Kpi("orders", "Attributed orders", orders_text(orders), f"AOV {money(_ratio(revenue, orders), currency)}"),
        Kpi("human_clicks", "Human clicks", count(humans), f"{money(_ratio(net, humans), currency)} per click"),
        Kpi("conversion_rate", "Conversion rate", percent(_ratio(orders, humans)), "orders / human clicks"),
        Kpi("bot_clicks", "Bot & preview clicks", count(bots), "counted apart, never credited"),
        Kpi("unattributed_orders", "Unattributed orders", count(reports.table.unattributed_orders),
            f"{money(reports.table.unattributed_revenue, currency)} without a credited click"),
        Kpi("recurring_revenue", "Recurring revenue", money(_sum(rows, "recurring_revenue"), currency),
            f"renewals of {orders_text(_sum(rows, 'subscriptions'))} subscriptions credited"),
    ]


def funnel(reports: Reports) -> list[FunnelStep]:
    """Sent -> delivered -> clicked (distinct human clickers) -> ordered (click and view credit), for the period;
    empty when no text was registered in it."""
    rows = reports.channels.rows
    sent = _sum(rows, "sent")
    if not sent:
        return []
    steps = [("sent", "Sent", _sum(rows, "sent")), ("delivered", "Delivered", _sum(rows, "delivered")),
             ("unique_clickers", "Clicked", _sum(rows, "unique_clickers")), ("orders", "Ordered", _sum(rows, "orders"))]
    out = []
    for i, (metric, label, value) in enumerate(steps):
        before = steps[i - 1] if i else None
        note = "texts sent" if before is None else f"{percent(_ratio(value, before[2]))} of {before[1].lower()}"
        text = orders_text(value) if metric == "orders" else count(int(value))
        out.append(FunnelStep(metric, label, raw(value), text, min(value / sent, Decimal(1)), note))
    return out


FUNNEL = (("human_clicks", "Human clicks"), ("add_to_cart", "Added to cart"), ("checkout", "Checkouts"),
          ("orders", "Orders"))
ALSO = (("signup", "Signups"), ("lead", "Leads"), ("subscriptions", "Subscriptions"))


def conversion_funnel(reports: Reports) -> tuple[list[ConversionStep], list[ConversionStep]]:
    """The micro-conversion funnel of the period (every channel): clicks, carts, checkouts, orders; and the
    conversions beside it. Each step is credited by the attribution rules, so it is a share of the clicks."""
    rows = reports.channels.rows
    clicks = _sum(rows, "human_clicks")

    def step(metric: str, label: str) -> ConversionStep:
        value = _sum(rows, metric)
        text = count(value) if metric == "human_clicks" else orders_text(value)
        return ConversionStep(metric, label, raw(value), text, value / clicks if clicks else Decimal(0))

    return [step(*s) for s in FUNNEL], [step(*s) for s in ALSO]


def source_lines(report: Reconciliation) -> list[SourceLine]:
    """The reconciliation panel: per source of orders, then every source, for the period."""
    def line(source: str, figures: Mapping[str, object]) -> SourceLine:
        return SourceLine(source, count(figures["orders"]), money(figures["revenue"], report.currency),
                          money(figures["attributed_revenue"], report.currency), raw(figures["attributed_share"]),
                          percent(figures["attributed_share"]), money(figures["refunds"], report.currency))

    lines = [line(str(row["source"]), row) for row in report.sources]
    return [*lines, line("all", report.total)] if len(lines) > 1 else lines


def channel_cards(report: Report) -> list[ChannelCard]:
    total = _sum(report.rows, "revenue")
    cards = []
    for row in report.rows:
        revenue = Decimal(str(row["revenue"]))
        values = [ChannelValue(name, label, raw(row[name]), metric_text(row[name], name, report.currency))
                  for name, label in CHANNEL_METRICS]
        cards.append(ChannelCard(str(row["channel"]), revenue / total if total else Decimal(0), values,
                                 raw(row["bot_clicks"]), count(row["bot_clicks"])))
    return cards


def metric_class(name: str) -> str:
    """The table cell class of a metric column: bots greyed, net revenue stressed."""
    return "bot" if name == "bot_clicks" else "money" if name == "net_revenue" else ""


def table_metrics() -> list[tuple[str, str, str, str]]:
    """(metric, column title, cell class, tooltip) of the ROI table, in the report's order."""
    return [(name, METRIC_LABELS[name], metric_class(name), METRIC_HINTS.get(name, "")) for name in METRICS]


def _sum(rows: Sequence[Mapping[str, object]], name: str) -> Decimal:
    return sum((Decimal(str(row[name])) for row in rows if row.get(name) is not None), Decimal(0))


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return part / whole if whole else None
