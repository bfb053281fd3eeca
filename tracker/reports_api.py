"""`GET /v1/reports/campaigns`: the campaign report as JSON or CSV."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.http_json import ApiError, json_response
from tracker.reports import InvalidReport, Report, ReportQuery, campaign_report
from tracker.settings import Settings

FORMATS = ("json", "csv")


class ReportsApi:
    def __init__(self, settings: Settings, clickhouse: Any) -> None:
        self._settings = settings
        self._clickhouse = clickhouse

    def routes(self) -> list[Route]:
        return [Route("/v1/reports/campaigns", self.campaigns, methods=["GET"])]

    async def campaigns(self, request: Request) -> Response:
        params = dict(request.query_params)
        output = params.get("format", "json")
        if output not in FORMATS:
            raise ApiError(400, f"format: expected json or csv, got {output[:20]!r}")
        try:
            query = ReportQuery.from_params(params, datetime.now(UTC))
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        report = await self.run(query)
        if output == "csv":
            filename = f"campaigns_{query.start:%Y%m%d}_{query.end:%Y%m%d}.csv"
            return Response(report.to_csv(), media_type="text/csv; charset=utf-8",
                            headers={"content-disposition": f'attachment; filename="{filename}"'})
        return json_response(report.to_json())

    async def run(self, query: ReportQuery) -> Report:
        if self._clickhouse is None:
            raise ApiError(503, "reports need ClickHouse: TRACKER_CLICKHOUSE_URL is not connected in this process")
        try:
            return await asyncio.to_thread(campaign_report, self._clickhouse, query, self._settings)
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - ClickHouse down or timing out: say so, never a 500
            raise ApiError(503, f"ClickHouse did not answer ({type(exc).__name__}); retry later") from None
