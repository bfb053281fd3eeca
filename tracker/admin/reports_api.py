"""`GET /v1/reports/campaigns` and `GET /v1/reports/bots`: the campaign report and the bots report, JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.http_json import ApiError, json_response
from tracker.reports.bots import run_bots_report
from tracker.reports.campaign import Report, ReportUnavailable, run_report
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.settings import Settings

FORMATS = ("json", "csv")
BOTS_PARAMETERS = ("from", "to", "exclude_tags", "format")


class ReportsApi:
    def __init__(self, settings: Settings, clickhouse: Any) -> None:
        self._settings = settings
        self._clickhouse = clickhouse

    def routes(self) -> list[Route]:
        return [
            Route("/v1/reports/campaigns", self.campaigns, methods=["GET"]),
            Route("/v1/reports/bots", self.bots, methods=["GET"]),
        ]

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
            filename = report.csv_filename()
            return Response(report.to_csv(), media_type="text/csv; charset=utf-8",
                            headers={"content-disposition": f'attachment; filename="{filename}"'})
        return json_response(report.to_json())

    async def bots(self, request: Request) -> Response:
        """Bot clicks of the period by `bot_reason`: the campaign report's range parameters, nothing else."""
        params = dict(request.query_params)
        unknown = sorted(set(params) - set(BOTS_PARAMETERS))
        if unknown:
            raise ApiError(400, f"unknown parameter {unknown[0][:40]!r}; expected {', '.join(BOTS_PARAMETERS)}")
        output = params.get("format", "json")
        if output not in FORMATS:
            raise ApiError(400, f"format: expected json or csv, got {output[:20]!r}")
        try:
            query = ReportQuery.from_params(params, datetime.now(UTC))
            report = await run_bots_report(self._clickhouse, query)
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        except ReportUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        if output == "csv":
            filename = query.csv_filename("bots")
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
