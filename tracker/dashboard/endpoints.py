"""`GET /reports`: the HTML dashboard on the admin app, for people rather than scripts.

Server-rendered from Jinja2 templates (`templates/`, autoescaping on): no JavaScript, no CDN, the chart is SVG
laid out by chart.py. Campaign and message names are user input: the templates escape every value, and the
Content-Security-Policy refuses inline scripts in case one ever slips through.

Who may look: the holders of an admin API key, checked with `key_matches` (sessions.py has the cookie and the
Basic password). The CSV export answers exactly what `GET /v1/reports/campaigns?format=csv` answers for the
same filters: it runs the same query through the same `run_report`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.api_keys import key_matches
from tracker.dashboard.chart import daily_chart
from tracker.dashboard.sessions import SESSION_COOKIE, Sessions, header_key, safe_next
from tracker.dashboard.views import (
    DEFAULT_GROUP_BY,
    FILTERS_FOR_TEMPLATES,
    GROUP_PRESETS,
    MODEL_LABELS,
    NO_CLICKHOUSE,
    Notice,
    channel_cards,
    compact_window,
    conversion_funnel,
    dashboard_filters,
    funnel,
    kpis,
    run_reports,
    source_lines,
    table_metrics,
)
from tracker.http_json import ApiError, read_body
from tracker.reports.attribution import MODELS
from tracker.reports.campaign import ReportUnavailable, run_report
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.settings import Settings
from tracker.templating import templates_of

MAX_LOGIN_BODY = 4096

TEMPLATES = templates_of(__file__)
TEMPLATES.env.filters.update(FILTERS_FOR_TEMPLATES)
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


class Dashboard:
    def __init__(self, settings: Settings, clickhouse: Any) -> None:
        self._settings = settings
        self._clickhouse = clickhouse
        self._keys = settings.api_keys
        self._sessions = Sessions(settings.secret, settings.api_keys)
        self._default_window = compact_window(settings.attribution_window)
        views = [f"{compact_window(s)} {c}" for c, s in sorted(settings.channel_view_windows.items()) if s]
        self._default_view_window = compact_window(settings.view_window) if settings.view_window else (
            ", ".join(views) if views else "off")

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
        """True: a valid session, or the key as a Bearer token or Basic password. False: a key that is wrong. None: no
        credentials at all."""
        token = request.cookies.get(SESSION_COOKIE, "")
        if token and self._sessions.valid(token, time.time()):
            return True
        password = header_key(request.headers.get("authorization", ""))
        if password is None:
            return None
        return bool(password) and key_matches(password, self._keys)

    async def page(self, request: Request) -> Response:
        allowed = self.access(request)
        if not allowed:
            return self._refuse(request, allowed is False)
        filters = dashboard_filters(request.query_params, datetime.now(UTC).date())
        context: dict[str, Any] = {
            "filters": filters, "default_window": self._default_window, "default_group_by": DEFAULT_GROUP_BY,
            "default_view_window": self._default_view_window,
            "models": [(model, MODEL_LABELS.get(model, model)) for model in MODELS], "group_presets": GROUP_PRESETS,
            "notice": None, "reports": None,
        }
        status = 200
        if self._clickhouse is None:
            status, context["notice"] = 503, Notice("ClickHouse is not connected.", " " + NO_CLICKHOUSE, error=True)
        else:
            try:
                query = ReportQuery.from_params(filters, datetime.now(UTC))
                reports = await asyncio.to_thread(run_reports, self._clickhouse, query, self._settings)
            except InvalidReport as exc:
                status, context["notice"] = 400, Notice("These filters do not make a report: ", str(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - ClickHouse down or slow: say so on the page, never a 500
                status = 503
                context["notice"] = Notice("ClickHouse did not answer.", f" ({type(exc).__name__}) Retry in a moment.",
                                           error=True)
            else:
                context.update(
                    reports=reports, kpis=kpis(reports), channels=channel_cards(reports.channels),
                    funnel=funnel(reports), conversion_funnel=conversion_funnel(reports),
                    sources=source_lines(reports.reconciliation),
                    chart=daily_chart(reports.daily, query.start, query.end), metrics=table_metrics(),
                    export_href="/reports/export.csv?" + urlencode({k: v for k, v in filters.items() if v}),
                )
        return self.render(request, "dashboard.html", context, status)

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
        headers = {"content-disposition": f'attachment; filename="{report.csv_filename()}"',
                   "cache-control": "no-store"}
        return Response(report.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)

    async def login_form(self, request: Request) -> Response:
        if self.access(request):
            return RedirectResponse(safe_next(request.query_params.get("next", "")), 303)
        return self._login_page(request, safe_next(request.query_params.get("next", "")))

    async def login(self, request: Request) -> Response:
        form = await _read_form(request)
        target = safe_next(form.get("next", ""))
        key = form.get("key", "").strip()
        if not key or not key_matches(key, self._keys):
            return self._login_page(request, target, "That key is not valid.", 401)
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
            response = self._login_page(request, "/reports", "That key is not valid.", 401)
            response.headers["www-authenticate"] = 'Basic realm="tracker reports"'
            return response
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/reports/login?" + urlencode({"next": target}), 303,
                                headers={"cache-control": "no-store"})

    def _login_page(self, request: Request, target: str, error: str = "", status: int = 200) -> Response:
        notice = Notice(error, error=True) if error else None
        return self.render(request, "login.html", {"error": notice, "next": target}, status)

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        """A dashboard page (the links page renders through it too): one stylesheet version, one set of headers."""
        return TEMPLATES.TemplateResponse(request, name, {**context, "css_version": _CSS_VERSION},
                                          status_code=status, headers=_PAGE_HEADERS)


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, read by hand: python-multipart is not a dependency for one field."""
    body = await read_body(request, MAX_LOGIN_BODY)
    try:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10))
    except ValueError:
        raise ApiError(400, "too many form fields") from None
