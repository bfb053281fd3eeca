"""`GET /reports`: the HTML dashboard on the admin app, for people rather than scripts.

Server-rendered from Python string templates: no JavaScript, no CDN, the chart is SVG drawn here. Campaign and
message names are user input, so every value goes through `html.escape` on its way into the page, and the
Content-Security-Policy refuses inline scripts in case one ever slips through.

Who may look: the holders of an admin API key, checked with `key_matches`. A person logs in once through a form
and gets a session cookie holding a signed, expiring token (never the key); scripts may send the key as the
password of `Authorization: Basic`. The CSV export answers exactly what `GET /v1/reports/campaigns?format=csv`
answers for the same filters: it runs the same query through the same `run_report`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tracker.api_keys import key_matches
from tracker.http_json import ApiError, read_body
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import METRICS, Report, ReportUnavailable, campaign_report, run_report
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.settings import Settings

SESSION_COOKIE = "tracker_session"
SESSION_TTL = 12 * 3600
MAX_LOGIN_BODY = 4096
FILTERS: tuple[str, ...] = ("from", "to", "group_by", "model", "window", "currency", "exclude_tags")
DEFAULT_GROUP_BY = "campaign,message"
DEFAULT_DAYS = 30
GROUP_PRESETS = ("campaign,message", "campaign", "channel", "channel,campaign", "source,medium,campaign",
                 "campaign,message,content", "day", "channel,day")
METRIC_LABELS: dict[str, str] = {
    "clicks": "Clicks", "human_clicks": "Human", "bot_clicks": "Bots", "unique_clickers": "Unique",
    "orders": "Orders", "revenue": "Revenue", "refunds": "Refunds", "net_revenue": "Net revenue", "aov": "AOV",
    "conversion_rate": "Conv. rate", "revenue_per_click": "Rev. / click",
}
MODEL_LABELS = {"last_click": "Last click", "first_click": "First click", "linear": "Linear (split)"}
NO_CLICKHOUSE = (
    "Reports need ClickHouse, and this admin process is not connected to it. Set TRACKER_CLICKHOUSE_URL "
    "(chdb://PATH or http(s)://user:pass@host:8123/db) and restart it; the links and conversions APIs keep working."
)

_TEMPLATES = files("tracker.dashboard").joinpath("templates")
_PAGE = Template(_TEMPLATES.joinpath("dashboard.html").read_text())
_LOGIN = Template(_TEMPLATES.joinpath("login.html").read_text())
_CSS = files("tracker.dashboard").joinpath("static/dashboard.css").read_text().encode()
_CSS_VERSION = hashlib.sha256(_CSS).hexdigest()[:12]
# No script may run on these pages; styles only from our own sheet. Inline SVG is markup, so it is allowed.
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def e(value: object) -> str:
    """Escape for HTML text and attribute values alike (quotes included)."""
    return html.escape(str(value), quote=True)


# --- who may look ----------------------------------------------------------------------------------------------

class Sessions:
    """Session tokens `v1.<key id>.<expiry>.<nonce>.<mac>`, HMAC-SHA256 under a key derived from TRACKER_SECRET.

    Stateless, so any admin replica accepts them. The key id is a MAC of the API key that logged in: removing that
    key from TRACKER_API_KEYS ends its sessions, and the token tells nothing about the key itself.
    """

    def __init__(self, secret: str, keys: Sequence[str], ttl: int = SESSION_TTL) -> None:
        self._mac_key = hmac.new(secret.encode(), b"tracker dashboard session", hashlib.sha256).digest()
        self._key_ids = frozenset(self.key_id(key) for key in keys)
        self.ttl = ttl

    def key_id(self, key: str) -> str:
        return self._sign("key:" + key)[:16]

    def issue(self, key: str, now: float) -> str:
        payload = f"v1.{self.key_id(key)}.{int(now) + self.ttl}.{secrets.token_urlsafe(9)}"
        return f"{payload}.{self._sign(payload)}"

    def valid(self, token: str, now: float) -> bool:
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "v1" or not parts[2].isdigit():
            return False
        payload = ".".join(parts[:4])
        signed = hmac.compare_digest(self._sign(payload), parts[4])
        return signed and parts[1] in self._key_ids and int(parts[2]) > now

    def _sign(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()


def basic_password(authorization: str) -> str | None:
    """The password of a Basic header (any user name); None when the header is not Basic, '' when unreadable."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""
    _, colon, password = decoded.partition(":")
    return password if colon else ""


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of the dashboard only, so the form is no open redirect."""
    if (target.startswith("/reports") and not target.startswith(("/reports/login", "/reports/logout"))
            and len(target) <= 2000 and "\\" not in target and target.isprintable()):
        return target
    return "/reports"


# --- what is shown ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reports:
    """The three reports one page needs, all with the same filters and currency."""

    table: Report
    channels: Report
    daily: Report


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
    )


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


def metric_text(name: str, value: object, currency: str) -> str:
    if name in ("revenue", "refunds", "net_revenue", "aov", "revenue_per_click"):
        return money(value, currency if name != "revenue_per_click" else "")
    if name == "orders":
        return orders_text(value)
    if name == "conversion_rate":
        return percent(value)
    return count(value)


def _sum(rows: Sequence[Mapping[str, object]], name: str) -> Decimal:
    return sum((Decimal(str(row[name])) for row in rows if row.get(name) is not None), Decimal(0))


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return part / whole if whole else None


def compact_window(seconds: int) -> str:
    """604800 -> '7d', 5400 -> '90m': the way the window parameter is written."""
    unit, size = next((u, n) for u, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)) if seconds % n == 0)
    return f"{seconds // size}{unit}"


def filters_form(filters: Mapping[str, str], default_window: str = "7d") -> str:
    def field(name: str, label: str, control: str) -> str:
        return f'<div><label for="f-{name}">{e(label)}</label>{control}</div>'

    def text(name: str, placeholder: str, kind: str = "text", extra: str = "") -> str:
        value = filters.get(name, "")
        if kind == "date" and value and "T" in value.upper():
            kind = "text"  # a date-time from a shared URL: keep it, a date input would blank it
        return (f'<input id="f-{name}" name="{name}" type="{kind}" value="{e(value)}" '
                f'placeholder="{e(placeholder)}" {extra}>')

    models = "".join(
        f'<option value="{e(m)}"{" selected" if filters.get("model") == m else ""}>{e(MODEL_LABELS.get(m, m))}</option>'
        for m in MODELS
    )
    presets = "".join(f'<option value="{e(p)}"></option>' for p in GROUP_PRESETS)
    return f"""<form class="card filters" method="get" action="/reports" aria-label="Report filters">
<div class="grid">
{field("from", "From", text("from", "YYYY-MM-DD", "date"))}
{field("to", "To (inclusive)", text("to", "YYYY-MM-DD", "date"))}
{field("group_by", "Group by", text("group_by", DEFAULT_GROUP_BY, extra='list="group-presets" spellcheck="false"'))}
{field("model", "Attribution model", f'<select id="f-model" name="model">{models}</select>')}
{field("window", "Window", text("window", f"default {default_window}", extra='spellcheck="false"'))}
{field("currency", "Currency", text("currency", "most common", extra='maxlength="3" autocapitalize="characters"'))}
{field("exclude_tags", "Exclude tags", text("exclude_tags", "e.g. automation", extra='spellcheck="false"'))}
</div>
<datalist id="group-presets">{presets}</datalist>
<div class="actions"><button type="submit">Apply</button><a class="button secondary" href="/reports">Reset</a></div>
</form>"""


def notice(title: str, detail: str = "", error: bool = False) -> str:
    body = f"<strong>{e(title)}</strong>{e(detail)}"
    return f'<div class="notice{" error" if error else ""}" role="status">{body}</div>'


def kpi_cards(reports: Reports) -> str:
    rows, currency = reports.channels.rows, reports.table.currency
    revenue, refunds, net = _sum(rows, "revenue"), _sum(rows, "refunds"), _sum(rows, "net_revenue")
    orders, humans, bots = _sum(rows, "orders"), _sum(rows, "human_clicks"), _sum(rows, "bot_clicks")
    cards = [
        ("net_revenue", "Net revenue", money(net, currency), f"{money(revenue)} sales − {money(refunds)} refunds"),
        ("orders", "Attributed orders", orders_text(orders), f"AOV {money(_ratio(revenue, orders), currency)}"),
        ("human_clicks", "Human clicks", count(humans), f"{money(_ratio(net, humans), currency)} per click"),
        ("conversion_rate", "Conversion rate", percent(_ratio(orders, humans)), "orders / human clicks"),
        ("bot_clicks", "Bot & preview clicks", count(bots), "counted apart, never credited"),
        ("unattributed_orders", "Unattributed orders", count(reports.table.unattributed_orders),
         f"{money(reports.table.unattributed_revenue, currency)} without a credited click"),
    ]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi{" bots" if name == "bot_clicks" else ""}" data-metric="{e(name)}">'
        f'<div class="label">{e(label)}</div><div class="value">{e(value)}</div><div class="sub">{e(sub)}</div></div>'
        for name, label, value, sub in cards
    ) + "</div>"


def channel_cards(report: Report) -> str:
    rows, currency = report.rows, report.currency
    if not rows:
        return '<section><h2>Top channels</h2><p class="empty">No clicks in this period yet.</p></section>'
    total = _sum(rows, "revenue")
    cards = []
    for row in rows:
        revenue = Decimal(str(row["revenue"]))
        share = revenue / total if total else Decimal(0)
        values = [("revenue", "Revenue"), ("orders", "Orders"), ("human_clicks", "Clicks"),
                  ("conversion_rate", "Conv. rate")]
        dl = "".join(
            f'<div><dt>{e(label)}</dt><dd data-metric="{e(name)}" data-value="{e(_raw(row[name]))}">'
            f"{e(metric_text(name, row[name], currency))}</dd></div>"
            for name, label in values
        )
        name = str(row["channel"])
        cards.append(
            f'<article class="channel" data-channel="{e(name)}">'
            f'<h3><span>{_key_text(name)}</span><span class="share">{e(percent(share))} of revenue</span></h3>'
            f'<svg class="meter" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" '
            f'aria-label="{e(percent(share))} of revenue"><rect class="track" width="100" height="6" fill="#dbe7fb"/>'
            f'<rect width="{float(share) * 100:.2f}" height="6" fill="#2f6fde"/></svg>'
            f'<dl>{dl}<div class="bots" data-metric="bot_clicks" data-value="{e(_raw(row["bot_clicks"]))}">'
            f'+ {e(count(row["bot_clicks"]))} bot / preview clicks, not credited</div></dl></article>'
        )
    return f'<section><h2>Top channels</h2><div class="channels">{"".join(cards)}</div></section>'


def roi_section(report: Report, export_href: str) -> str:
    keys = report.query.group_by
    title = "ROI by " + " · ".join(keys)
    head = "".join(f'<th class="key" scope="col">{e(key)}</th>' for key in keys) + "".join(
        f'<th scope="col"{_metric_class(name)}>{e(METRIC_LABELS[name])}</th>' for name in METRICS
    )
    if report.rows:
        body = "".join(
            "<tr>" + "".join(f'<td class="key" title="{e(row[key])}">{_key_text(row[key])}</td>' for key in keys)
            + "".join(f"<td{_metric_class(name)}>{e(metric_text(name, row[name], report.currency))}</td>"
                      for name in METRICS) + "</tr>"
            for row in report.rows
        )
    else:
        body = f'<tr><td class="key" colspan="{len(keys) + len(METRICS)}">No clicks or orders in this period.</td></tr>'
    unattributed = (
        f'<p class="unattributed">Unattributed: {e(count(report.unattributed_orders))} '
        f'order{"" if report.unattributed_orders == 1 else "s"}, '
        f"{e(money(report.unattributed_revenue, report.currency))} (purchases with no eligible human click).</p>"
    )
    return f"""<section>
<header><h2>{e(title)}</h2><a class="button secondary export" href="{e(export_href)}" download>Export CSV</a></header>
<div class="table-wrap"><table class="roi"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
<p class="formula">{e(report.formula)}</p>
{unattributed}
</section>"""


def _metric_class(name: str) -> str:
    if name == "bot_clicks":
        return ' class="bot"'
    return ' class="money"' if name == "net_revenue" else ""


def _key_text(value: object) -> str:
    text = str(value)
    return e(text) if text else '<span class="none">(none)</span>'


def _raw(value: object) -> str:
    return "" if value is None else str(value)


# --- the chart -------------------------------------------------------------------------------------------------

CHART_W, CHART_H = 720, 230
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 62, 46, 14, 36
MAX_CHART_DAYS = 400


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 or 10 times a power of ten that is at least `value`: readable axis tops."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _short(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value % 1 else f"{value:.0f}"


def daily_chart(report: Report, start: datetime, end: datetime) -> str:
    """Revenue as bars (left axis), human and bot clicks as lines (right axis), one slot per day of the period."""
    by_day = {str(row["day"]): row for row in report.rows}
    first, last = start.date(), (end - timedelta(milliseconds=1)).date()
    span = (last - first).days + 1
    days = [(first + timedelta(days=i)).isoformat() for i in range(span)] if span <= MAX_CHART_DAYS else sorted(by_day)
    revenue = [float(str(by_day[d]["revenue"])) if d in by_day else 0.0 for d in days]
    orders = [by_day[d]["orders"] if d in by_day else 0 for d in days]
    humans = [int(str(by_day[d]["human_clicks"])) if d in by_day else 0 for d in days]
    bots = [int(str(by_day[d]["bot_clicks"])) if d in by_day else 0 for d in days]
    if not days or not (any(revenue) or any(humans) or any(bots)):
        return '<p class="empty">No clicks or orders in this period yet.</p>'

    top_revenue, top_clicks = nice_ceiling(max(revenue)), nice_ceiling(max(humans + bots))
    plot_w, plot_h = CHART_W - PAD_LEFT - PAD_RIGHT, CHART_H - PAD_TOP - PAD_BOTTOM
    step = plot_w / len(days)
    base = PAD_TOP + plot_h

    def x(i: int) -> float:
        return PAD_LEFT + step * (i + 0.5)

    def y(value: float, top: float) -> float:
        return base - value / top * plot_h

    parts = [f'<svg class="daily" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
             f'aria-labelledby="chart-title"><title id="chart-title">Daily revenue and clicks</title>']
    for fraction in (0.0, 0.5, 1.0):
        gy = base - fraction * plot_h
        parts.append(f'<line class="{"axis" if fraction == 0 else "grid"}" x1="{PAD_LEFT}" x2="{CHART_W - PAD_RIGHT}" '
                     f'y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{e(_short(top_revenue * fraction))}'
                     "</text>")
        parts.append(f'<text x="{CHART_W - PAD_RIGHT + 6}" y="{gy + 4:.1f}">{e(_short(top_clicks * fraction))}</text>')
    bar_w = max(1.0, step * 0.64)
    for i, value in enumerate(revenue):
        if value > 0:
            top = y(value, top_revenue)
            tip = f"{days[i]}: {money(value, report.currency)} revenue, {orders_text(orders[i])} orders"
            parts.append(f'<rect class="bar" x="{x(i) - bar_w / 2:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                         f'height="{max(base - top, 0.5):.1f}" rx="1.5"><title>{e(tip)}</title></rect>')
    if any(bots):
        line = " ".join(f"{x(i):.1f},{y(v, top_clicks):.1f}" for i, v in enumerate(bots))
        parts.append(f'<polyline class="bots" points="{line}"/>')
    line = " ".join(f"{x(i):.1f},{y(v, top_clicks):.1f}" for i, v in enumerate(humans))
    parts.append(f'<polyline class="clicks" points="{line}"/>')
    for i, value in enumerate(humans):
        if value or bots[i]:
            tip = f"{days[i]}: {value:,} human clicks, {bots[i]:,} bot clicks"
            parts.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(value, top_clicks):.1f}" r="3.5">'
                         f"<title>{e(tip)}</title></circle>")
    # Every n-th day and always the last one, which takes the place of an n-th day too close to it.
    every, final = max(1, math.ceil(len(days) / 6)), len(days) - 1
    labels = list(range(0, len(days), every))
    if final - labels[-1] >= every * 0.8:
        labels.append(final)
    elif len(labels) > 1:
        labels[-1] = final
    for i in labels:
        day = date.fromisoformat(days[i])
        parts.append(f'<text x="{x(i):.1f}" y="{CHART_H - 6}" text-anchor="middle">{e(f"{day:%b} {day.day}")}</text>')
    parts.append("</svg>")
    currency = f" ({report.currency})" if report.currency else ""
    legend = (f'<div class="legend"><span><i class="rev"></i>Revenue{e(currency)}, left axis</span>'
              '<span><i class="clk"></i>Human clicks, right axis</span>'
              '<span><i class="bot"></i>Bot &amp; preview clicks (dashed)</span></div>')
    return f'<div class="chart">{"".join(parts)}</div>{legend}'


def chart_section(report: Report, query: ReportQuery) -> str:
    return f"<section><h2>Daily revenue and clicks</h2>{daily_chart(report, query.start, query.end)}</section>"


# --- the endpoints ---------------------------------------------------------------------------------------------

class Dashboard:
    def __init__(self, settings: Settings, clickhouse: Any) -> None:
        self._settings = settings
        self._clickhouse = clickhouse
        self._keys = settings.api_keys
        self._sessions = Sessions(settings.secret, settings.api_keys)
        self._default_window = compact_window(settings.attribution_window)

    def routes(self) -> list[Route]:
        return [
            Route("/reports", self.page, methods=["GET"]),
            Route("/reports/login", self.login_form, methods=["GET"]),
            Route("/reports/login", self.login, methods=["POST"]),
            Route("/reports/logout", self.logout, methods=["POST"]),
            Route("/reports/export.csv", self.export, methods=["GET"]),
            Route("/reports/dashboard.css", self.css, methods=["GET"]),
        ]

    def access(self, request: Request) -> bool | None:
        """True: a valid session or Basic key. False: a Basic key that is wrong. None: no credentials at all."""
        token = request.cookies.get(SESSION_COOKIE, "")
        if token and self._sessions.valid(token, time.time()):
            return True
        password = basic_password(request.headers.get("authorization", ""))
        if password is None:
            return None
        return bool(password) and key_matches(password, self._keys)

    async def page(self, request: Request) -> Response:
        allowed = self.access(request)
        if not allowed:
            return self._refuse(request, allowed is False)
        filters = dashboard_filters(request.query_params, datetime.now(UTC).date())
        status, content, message = 200, "", ""
        if self._clickhouse is None:
            status, message = 503, notice("ClickHouse is not connected.", " " + NO_CLICKHOUSE, error=True)
        else:
            try:
                query = ReportQuery.from_params(filters, datetime.now(UTC))
                reports = await asyncio.to_thread(run_reports, self._clickhouse, query, self._settings)
            except InvalidReport as exc:
                status, message = 400, notice("These filters do not make a report: ", str(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - ClickHouse down or slow: say so on the page, never a 500
                status = 503
                message = notice("ClickHouse did not answer.", f" ({type(exc).__name__}) Retry in a moment.", True)
            else:
                export = "/reports/export.csv?" + urlencode({k: v for k, v in filters.items() if v})
                content = "\n".join((kpi_cards(reports), channel_cards(reports.channels),
                                     chart_section(reports.daily, query), roi_section(reports.table, export)))
        form = filters_form(filters, self._default_window)
        body = _PAGE.substitute(css_version=_CSS_VERSION, filters=form, notice=message, content=content)
        return HTMLResponse(body, status, headers=_PAGE_HEADERS)

    async def export(self, request: Request) -> Response:
        """The API's CSV for the same query string; only the way in (session or Basic) differs."""
        if not self.access(request):
            return Response("log in at /reports/login, or send the API key as the Basic password\n", 401,
                            media_type="text/plain", headers={"www-authenticate": 'Basic realm="tracker reports"'})
        params = dict(request.query_params)
        if params.get("format", "csv") != "csv":
            raise ApiError(400, "format: this endpoint only answers csv")
        try:
            query = ReportQuery.from_params(params, datetime.now(UTC))
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        try:
            report = await run_report(self._clickhouse, query, self._settings)
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        except ReportUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        filename = f"campaigns_{query.start:%Y%m%d}_{query.end:%Y%m%d}.csv"
        headers = {"content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"}
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)

    async def login_form(self, request: Request) -> Response:
        if self.access(request):
            return RedirectResponse(safe_next(request.query_params.get("next", "")), 303)
        return self._login_page(safe_next(request.query_params.get("next", "")))

    async def login(self, request: Request) -> Response:
        form = await _read_form(request)
        target = safe_next(form.get("next", ""))
        key = form.get("key", "").strip()
        if not key or not key_matches(key, self._keys):
            return self._login_page(target, "That key is not valid.", 401)
        response = RedirectResponse(target, 303, headers={"cache-control": "no-store"})
        response.set_cookie(SESSION_COOKIE, self._sessions.issue(key, time.time()), max_age=self._sessions.ttl,
                            path="/reports", secure=request.url.scheme == "https", httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/reports/login", 303, headers={"cache-control": "no-store"})
        response.delete_cookie(SESSION_COOKIE, path="/reports", secure=request.url.scheme == "https", httponly=True,
                               samesite="strict")
        return response

    async def css(self, request: Request) -> Response:
        fresh = request.query_params.get("v") == _CSS_VERSION
        cache = "public, max-age=31536000, immutable" if fresh else "public, max-age=300"
        return Response(_CSS, media_type="text/css; charset=utf-8", headers={"cache-control": cache})

    def _refuse(self, request: Request, wrong_key: bool) -> Response:
        if wrong_key:
            response = self._login_page("/reports", "That key is not valid.", 401)
            response.headers["www-authenticate"] = 'Basic realm="tracker reports"'
            return response
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/reports/login?" + urlencode({"next": target}), 303,
                                headers={"cache-control": "no-store"})

    def _login_page(self, target: str, error: str = "", status: int = 200) -> Response:
        message = notice(error, error=True) if error else ""
        body = _LOGIN.substitute(css_version=_CSS_VERSION, error=message, next=e(target))
        return HTMLResponse(body, status, headers=_PAGE_HEADERS)


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, read by hand: python-multipart is not a dependency for one field."""
    body = await read_body(request, MAX_LOGIN_BODY)
    try:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10))
    except ValueError:
        raise ApiError(400, "too many form fields") from None
