"""REST API: feedback and performance reports."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from bot import api_models
from bot.api.common import ApiRequest, _today, endpoint, ok
from bot.services import audit, feedback
from bot.services.inputs import parse_input


class ReportIn(BaseModel):
    period: str | None = Field(default=None, pattern=r"^\d{4}-Q[1-4]$")
    vs: str | None = Field(default=None, pattern=r"^\d{4}-Q[1-4]$")


@endpoint
async def submit_feedback(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = feedback.parse_feedback(await req.body())
    row, created = await feedback.submit(
        req.session, actor=req.actor, client_id=client.id, data=data, today=_today(req)
    )
    return ok(audit.snapshot(row), 201 if created else 200, model=api_models.FeedbackOut)


@endpoint
async def list_feedback(req: ApiRequest) -> web.Response:
    client = await req.client()
    periods = await feedback.by_period(req.session, actor=req.actor, client_id=client.id)
    return ok(
        {
            "periods": [
                {
                    "period": s.period,
                    "responses": s.responses,
                    "averages": s.averages,
                    "finalized": s.finalized,
                }
                for s in periods
            ]
        },
        model=api_models.FeedbackListOut,
    )


@endpoint
async def performance_report(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = parse_input(ReportIn, await req.body())
    report = await feedback.report(
        req.session, actor=req.actor, client_id=client.id, period=body.period, vs=body.vs, today=_today(req)
    )
    assert report.period is not None and report.compared is not None
    return ok(
        {
            "client_code": client.client_code,
            "period": report.period.period,
            "compared_with": report.compared.period,
            "averages": report.period.averages,
            "compared_averages": report.compared.averages,
            "deltas": report.deltas,
            "finalized": report.period.finalized,
            "written_feedback": report.period.written,
            "trend": [{"period": s.period, "averages": s.averages} for s in report.periods],
        },
        model=api_models.PerformanceReportOut,
    )
