"""The dashboard's daily chart, laid out here and drawn as SVG by `templates/chart.html`.

Revenue as bars (left axis), human and bot clicks as lines (right axis), one slot per day of the period. Every
coordinate is computed here and handed to the template as text, so the template only places elements.

The plot is drawn in viewBox units and scales with the page; its labels are placed in percentages of the same box
by a second SVG without a viewBox, so their font keeps its size in real pixels (readable at 390 px wide, not
shrunk with the plot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tracker.dashboard.views import money, orders_text
from tracker.reports.campaign import Report

CHART_W, CHART_H = 720, 230
# Room for the axis labels; at 390 px wide the left one is ~30 px, enough for "12.5k" at 12 px.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 66, 54, 14, 36
MAX_CHART_DAYS = 400


def _percent(value: float, whole: float) -> str:
    return f"{value / whole * 100:.2f}%"


@dataclass(frozen=True)
class Gridline:
    y: str
    label_y: str  # percent of the chart's height, for the label layer
    axis: bool  # the baseline, drawn darker
    revenue: str  # left axis label
    clicks: str  # right axis label


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    tip: str


@dataclass(frozen=True)
class Point:
    cx: str
    cy: str
    tip: str


@dataclass(frozen=True)
class DayLabel:
    x: str  # percent of the chart's width, for the label layer
    text: str


@dataclass(frozen=True)
class Chart:
    gridlines: list[Gridline]
    bars: list[Bar]
    clicks_line: str  # polyline points
    bots_line: str  # polyline points; '' when no bot clicked
    points: list[Point]
    labels: list[DayLabel]
    currency: str
    width: int = CHART_W
    height: int = CHART_H
    left: int = PAD_LEFT
    right: int = CHART_W - PAD_RIGHT
    # The label layer, in percent of the chart's box: the two axes' label columns and the day labels' row.
    left_label_x: str = _percent(PAD_LEFT - 6, CHART_W)
    right_label_x: str = _percent(CHART_W - PAD_RIGHT + 6, CHART_W)
    day_label_y: str = _percent(CHART_H - PAD_BOTTOM + 8, CHART_H)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 or 10 times a power of ten that is at least `value`: readable axis tops."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value % 1 else f"{value:.0f}"


def daily_chart(report: Report, start: datetime, end: datetime) -> Chart | None:
    """The chart of a report grouped by day; None when the period has neither clicks nor orders."""
    by_day = {str(row["day"]): row for row in report.rows}
    first, last = start.date(), (end - timedelta(milliseconds=1)).date()
    span = (last - first).days + 1
    days = [(first + timedelta(days=i)).isoformat() for i in range(span)] if span <= MAX_CHART_DAYS else sorted(by_day)
    revenue = [float(str(by_day[d]["revenue"])) if d in by_day else 0.0 for d in days]
    orders = [by_day[d]["orders"] if d in by_day else 0 for d in days]
    humans = [int(str(by_day[d]["human_clicks"])) if d in by_day else 0 for d in days]
    bots = [int(str(by_day[d]["bot_clicks"])) if d in by_day else 0 for d in days]
    if not days or not (any(revenue) or any(humans) or any(bots)):
        return None

    top_revenue, top_clicks = nice_ceiling(max(revenue)), nice_ceiling(max(humans + bots))
    plot_w, plot_h = CHART_W - PAD_LEFT - PAD_RIGHT, CHART_H - PAD_TOP - PAD_BOTTOM
    step = plot_w / len(days)
    base = PAD_TOP + plot_h

    def x(i: int) -> float:
        return PAD_LEFT + step * (i + 0.5)

    def y(value: float, top: float) -> float:
        return base - value / top * plot_h

    gridlines = [
        Gridline(f"{base - fraction * plot_h:.1f}", _percent(base - fraction * plot_h, CHART_H), fraction == 0,
                 short_number(top_revenue * fraction), short_number(top_clicks * fraction))
        for fraction in (0.0, 0.5, 1.0)
    ]
    bar_w = max(1.0, step * 0.64)
    bars = []
    for i, value in enumerate(revenue):
        if value > 0:
            top = y(value, top_revenue)
            tip = f"{days[i]}: {money(value, report.currency)} revenue, {orders_text(orders[i])} orders"
            height = max(base - top, 0.5)
            bars.append(Bar(f"{x(i) - bar_w / 2:.1f}", f"{top:.1f}", f"{bar_w:.1f}", f"{height:.1f}", tip))
    bots_line = " ".join(f"{x(i):.1f},{y(v, top_clicks):.1f}" for i, v in enumerate(bots)) if any(bots) else ""
    points = [
        Point(f"{x(i):.1f}", f"{y(v, top_clicks):.1f}", f"{days[i]}: {v:,} human clicks, {bots[i]:,} bot clicks")
        for i, v in enumerate(humans) if v or bots[i]
    ]
    # Every n-th day and always the last one, which takes the place of an n-th day too close to it.
    every, final = max(1, math.ceil(len(days) / 6)), len(days) - 1
    marks = list(range(0, len(days), every))
    if final - marks[-1] >= every * 0.8:
        marks.append(final)
    elif len(marks) > 1:
        marks[-1] = final
    labels = []
    for i in marks:
        day = date.fromisoformat(days[i])
        labels.append(DayLabel(_percent(x(i), CHART_W), f"{day:%b} {day.day}"))
    return Chart(
        gridlines=gridlines,
        bars=bars,
        clicks_line=" ".join(f"{x(i):.1f},{y(v, top_clicks):.1f}" for i, v in enumerate(humans)),
        bots_line=bots_line,
        points=points,
        labels=labels,
        currency=report.currency,
    )
