"""`GET /v1/reports/campaigns`, `/v1/reports/bots` and `/v1/reports/reconciliation`: JSON or CSV."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.http_json import ApiError, json_response
from tracker.reports.bots import run_bots_report
from tracker.reports.campaign import Report, ReportUnavailable, run_report
from tracker.reports.query import InvalidReport, ReportQuery
from tracker.reports.reconciliation import PARAMETERS as RECONCILIATION_PARAMETERS
from tracker.reports.reconciliation import run_reconciliation
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
            Route("/v1/reports/reconciliation", self.reconciliation, methods=["GET"]),
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
        return await self._range_report(request, BOTS_PARAMETERS, "bots",
                                        lambda query: run_bots_report(self._clickhouse, query))

    async def reconciliation(self, request: Request) -> Response:
        """Per day and source, the orders and revenue received against those attributed (reports/reconciliation.py)."""
        return await self._range_report(request, RECONCILIATION_PARAMETERS, "reconciliation",
                                        lambda query: run_reconciliation(self._clickhouse, query, self._settings))

    async def _range_report(
        self, request: Request, allowed: tuple[str, ...], name: str, run: Callable[[ReportQuery], Awaitable[Any]]
    ) -> Response:
        """A report that takes only `allowed` parameters (others are a 400: a typo must not go unnoticed)."""
        params = dict(request.query_params)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ApiError(400, f"unknown parameter {unknown[0][:40]!r}; expected {', '.join(allowed)}")
        output = params.get("format", "json")
        if output not in FORMATS:
            raise ApiError(400, f"format: expected json or csv, got {output[:20]!r}")
        try:
            query = ReportQuery.from_params(params, datetime.now(UTC))
            report = await run(query)
        except InvalidReport as exc:
            raise ApiError(400, str(exc)) from None
        except ReportUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        if output == "csv":
            filename = query.csv_filename(name)
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
