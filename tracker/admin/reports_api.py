"""`GET /v1/reports/campaigns`: the campaign report as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.http_json import ApiError, json_response
from tracker.reports.campaign import Report, ReportUnavailable, run_report
from tracker.reports.query import InvalidReport, ReportQuery
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
        try:
            return await run_report(self._clickhouse, query, self._settings)
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        except ReportUnavailable as exc:
            raise ApiError(503, str(exc)) from None
