"""Per-client job analytics, shared by the dashboard, the API and the nightly snapshot."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import among, built_once, dialect_name
from bot.models import Application, Job, JobStatus, Stage

ACTIVE_JOB_STATUSES = (JobStatus.OPEN.value, JobStatus.ON_HOLD.value)


@dataclass
class JobAnalytics:
    total_jobs: int = 0
    active_jobs: int = 0
    open_positions: int = 0
    pipeline: dict[str, int] = field(default_factory=lambda: dict.fromkeys((s.value for s in Stage), 0))
    total_candidates: int = 0
    placements: int = 0
    revenue: Decimal = Decimal("0.00")
    avg_time_to_fill_days: float | None = None
    median_time_to_fill_days: float | None = None
    avg_quality_score: float | None = None
    offers: int = 0
    offers_accepted: int = 0
    offer_acceptance_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["revenue"] = str(self.revenue)
        return data


def fill_seconds(dialect: str) -> Any:
    """A job's time to fill in seconds (filled_at - opened_at), in SQL for the backend named `dialect`."""
    if dialect == "postgresql":
        return func.extract("epoch", Job.filled_at - Job.opened_at)
    return (func.julianday(Job.filled_at) - func.julianday(Job.opened_at)) * 86400


def _days(seconds: float) -> float:
    return round(seconds / 86400, 2)


async def client_job_analytics(session: AsyncSession, client_id: uuid.UUID) -> JobAnalytics:
    """One statement (`figures_query`), whatever the size of the account:

    - time-to-fill: filled jobs, opened_at -> filled_at in days (average and median);
    - candidate quality: average quality score of rated applications;
    - offer acceptance: accepted / offers made (applications with an offer status);
    - revenue: placement fee of each hire, or the job's fee when the hire has none."""
    query = figures_query(dialect_name(session))
    return analytics_of((await session.execute(query, {"client_id": client_id})).one())


def analytics_of(row: Sequence[Any]) -> JobAnalytics:
    """`client_job_analytics` from the row of `figures_query` (its leading FIGURE_COUNT columns)."""
    result = JobAnalytics()
    result.total_jobs, result.active_jobs, open_openings, average_fill, median_fill = row[:5]
    apps = row[5:FIGURE_COUNT]
    counts = apps[: len(Stage)]
    result.pipeline = {s.value: int(n) for s, n in zip(Stage, counts, strict=True)}
    (result.total_candidates, revenue, quality, result.offers, result.offers_accepted, open_hires) = apps[
        len(Stage) :
    ]
    result.placements = result.pipeline[Stage.HIRED.value]
    result.revenue = Decimal(revenue).quantize(Decimal("0.01"))
    result.avg_quality_score = round(float(quality), 2) if quality is not None else None
    if result.offers:
        result.offer_acceptance_rate = round(result.offers_accepted / result.offers, 4)
    result.open_positions = max(0, int(open_openings) - int(open_hires))
    if average_fill is not None:
        result.avg_time_to_fill_days = _days(float(average_fill))
        result.median_time_to_fill_days = _days(float(median_fill))
    return result


FIGURE_COUNT = 5 + len(Stage) + 6  # the columns of `figures_query`


@built_once
def figures_query(dialect: str) -> Any:
    """Both aggregates of `client_job_analytics` (FIGURE_COUNT columns), one row each, in one statement;
    bound: `client_id`."""
    client_id = bindparam("client_id")
    filled = (Job.client_id == client_id, Job.filled_at.is_not(None))
    seconds = fill_seconds(dialect)
    # the median: the middle fill time, or the mean of the two middle ones (window functions, both backends)
    ranked = (
        select(
            seconds.label("seconds"),
            func.row_number().over(order_by=seconds).label("rank"),
            func.count().over().label("fills"),
        )
        .where(*filled)
        .subquery()
    )
    middle = (ranked.c.fills + 1) // 2, (ranked.c.fills + 2) // 2
    jobs = (
        select(
            func.count().label("total"),
            func.count().filter(among(Job.status, ACTIVE_JOB_STATUSES)).label("active"),
            func.coalesce(func.sum(Job.openings).filter(Job.status == JobStatus.OPEN.value), 0).label(
                "openings"
            ),
            select(func.avg(seconds)).where(*filled).scalar_subquery().label("average_fill"),
            select(func.avg(ranked.c.seconds))
            .where(ranked.c.rank.in_(middle))
            .scalar_subquery()
            .label("median_fill"),
        )
        .where(Job.client_id == client_id)
        .subquery()
    )
    hired = Application.stage == Stage.HIRED.value
    stage_counts = [func.count().filter(Application.stage == s.value) for s in Stage]
    applications = (
        select(
            *stage_counts,
            func.count(func.distinct(Application.candidate_id)),
            func.coalesce(func.sum(case((hired, func.coalesce(Application.placement_fee, Job.fee)))), 0),
            func.avg(Application.quality_score),
            func.count(Application.offer_status),
            func.count().filter(Application.offer_status == "accepted"),
            func.count().filter(hired, Job.status == JobStatus.OPEN.value),
        )
        .join(Job, Job.id == Application.job_id)
        .where(Job.client_id == client_id)
        .subquery()
    )
    return select(jobs, applications).select_from(jobs.join(applications, true()))
