"""`GET /reports/links`: the dashboard's links page, and its bots panel.

Search the links (the same listing and filters as `GET /v1/links`), see each link's clicks and attributed
revenue over the period (the campaign report grouped by domain and code), open its QR code, disable,
enable or delete it. The bots panel shows which previews and scanners hit the links (`/v1/reports/bots`).

The page is a Jinja2 template (autoescaped: destinations and labels are user input). The buttons are plain
forms that POST to this app: the session cookie is SameSite=Strict, so no other site can send them with
it, and a post a browser marks as coming from another site (Sec-Fetch-Site, else Origin) is refused as well.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from shortlinks.codes import is_well_formed
from shortlinks.link import Link, LinkRules
from shortlinks.link_store import InvalidCursor, LinkFilter, LinkStore
from shortlinks.qr import qr_code
from shortlinks.utm import InvalidUtm, normalise_utm_value
from tracker.dashboard.endpoints import Dashboard
from tracker.reports.bots import bots_report
from tracker.reports.campaign import campaign_report
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.settings import Settings

PAGE_SIZE = 50
DEFAULT_DAYS = 30


class LinksPage:
    def __init__(self, settings: Settings, store: LinkStore, clickhouse: Any, dashboard: Dashboard) -> None:
        self._settings = settings
        self._store = store
        self._clickhouse = clickhouse
        self._access = dashboard.access
        self._render = dashboard.render

    def routes(self) -> list[Route]:
        return [
            Route("/reports/links", self.page, methods=["GET"]),
            Route("/reports/links/{code}/qr.svg", self.qr, methods=["GET"]),
            Route("/reports/links/{code}/{action}", self.act, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        params = request.query_params
        q, campaign = params.get("q", "").strip()[:200], params.get("campaign", "").strip()[:200]
        today = datetime.now(UTC).date()
        period = {"from": params.get("from") or str(today - timedelta(days=DEFAULT_DAYS - 1)),
                  "to": params.get("to") or str(today)}
        notice, status = "", 200
        links: list[Link] = []
        cursor = None
        try:
            where = LinkFilter(campaign=normalise_utm_value(campaign) if campaign else "", q=q)
            links, cursor = await self._store.page(where, PAGE_SIZE, params.get("cursor", ""))
        except (InvalidCursor, InvalidUtm) as exc:
            notice, status = str(exc), 400
        figures: dict[tuple[str, str], dict[str, Any]] = {}
        bots: dict[str, Any] | None = None
        currency = ""
        if self._clickhouse is None:
            notice = notice or "Clicks and revenue need ClickHouse, which this admin process is not connected to."
        else:
            try:
                figures, currency, bots = await asyncio.to_thread(self._figures, period)
            except InvalidReport as exc:
                notice, status = str(exc), 400
            except Exception as exc:  # noqa: BLE001 - ClickHouse down or slow: the links still show
                notice = f"ClickHouse did not answer ({type(exc).__name__}): clicks and revenue are missing."
        rows = [{"link": link, "short_url": f"{self._settings.short_base_for(link.domain)}/{link.code}",
                 "figures": figures.get((link.domain, link.code), {}),
                 "ref": urlencode({"domain": link.domain})} for link in links]
        next_href = "/reports/links?" + urlencode({**dict(params), "cursor": cursor}) if cursor else ""
        return self._render(request, "links.html", {
            "rows": rows, "q": q, "campaign": campaign, "period": period, "currency": currency, "bots": bots,
            "notice": notice, "next_href": next_href, "back": request.url.path + ("?" + request.url.query
                                                                                    if request.url.query else ""),
        }, status)

    def _figures(self, period: dict[str, str]) -> tuple[dict[tuple[str, str], dict[str, Any]], str, dict[str, Any]]:
        now = datetime.now(UTC)
        report = campaign_report(self._clickhouse, ReportQuery.from_params(
            {**period, "group_by": "domain,code"}, now), self._settings)
        by_link = {(str(row["domain"]), str(row["code"])): row for row in report.rows}
        bots = bots_report(self._clickhouse, ReportQuery.from_params(period, now)).to_json()
        return by_link, report.currency, bots

    async def qr(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        link = await self._link(request)
        if link is None:
            return Response("no such link\n", 404, media_type="text/plain")
        url = f"{self._settings.short_base_for(link.domain)}/{link.code}"
        return Response(qr_code(url, "svg"), media_type="image/svg+xml", headers={"cache-control": "private"})

    async def act(self, request: Request) -> Response:
        """Disable, enable or delete one link, then back to the page the button was on."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        if not _same_origin(request):
            return Response("this form only works from the dashboard itself\n", 400, media_type="text/plain")
        action = request.path_params["action"]
        if action not in ("disable", "enable", "delete"):
            return Response("unknown action\n", 404, media_type="text/plain")
        link = await self._link(request)
        if link is None:
            return Response("no such link\n", 404, media_type="text/plain")
        if action == "delete":
            await self._store.delete(link)
        else:
            rules = LinkRules(allowed_hosts=self._settings.allowed_hosts, click_param=self._settings.click_param)
            await self._store.save_change(link.patched({"disabled": action == "disable"}, rules))
        back = request.query_params.get("back", "/reports/links")
        return RedirectResponse(back if back.startswith("/reports/links") else "/reports/links", 303)

    async def _link(self, request: Request) -> Link | None:
        code = request.path_params["code"]
        domain = request.query_params.get("domain", "")
        if not is_well_formed(code) or (domain and domain not in self._settings.domains):
            return None
        return await self._store.find(code, (domain,) if domain else self._settings.domains)

    def _refused(self, request: Request) -> Response | None:
        allowed = self._access(request)
        if allowed:
            return None
        if allowed is False:
            return Response("That key is not valid.\n", 401, media_type="text/plain",
                            headers={"www-authenticate": 'Basic realm="tracker reports"'})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/reports/login?" + urlencode({"next": target}), 303,
                                headers={"cache-control": "no-store"})


def _same_origin(request: Request) -> bool:
    """Whether a form post comes from a page of this app (a browser says so in Sec-Fetch-Site; older ones in
    Origin, which is `null` under our no-referrer policy). Scripts sending neither rely on their key."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")
