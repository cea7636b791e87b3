"""The agency's success metrics (seed §8), for HR Admins and Managers: feedback completion per quarter,
logging coverage, adoption, centralisation and report build times, with a trend by month.

Definitions (the same for `/client metrics`, App Home and `GET /api/metrics`):
- active clients: status `active`, created before the moment measured.
- feedback completion (target 75 %): active clients with finalised feedback for the quarter / active
  clients. The quarter is the period's own once it has ended, else the last completed one (feedback
  for a quarter is collected after it).
- logging coverage (target 80 %): active clients with a communication dated in the 30 days before the
  end of the period (or now) / active clients.
- adoption (target 90 %): HR Managers who did anything recorded in the audit trail during the period /
  HR Managers (Slack accounts: not guests, deactivated users, bots or service accounts). Recruiters
  are counted the same way, without a target.
- centralisation: active clients with an active primary contact and an account manager / active clients.
- report times: how long dashboard and performance PDFs took to build (report_builds), in the period.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as day_time
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db import Database
from bot.errors import ValidationFailed
from bot.models import (
    AuditLog,
    Client,
    ClientCommunication,
    ClientContact,
    ClientFeedback,
    ClientStatus,
    ReportBuild,
    Role,
    User,
)
from bot.roles import require
from bot.services import periods, users

log = logging.getLogger("clientbot.metrics")
T = TypeVar("T")

FEEDBACK_TARGET = 0.75
LOGGING_TARGET = 0.80
ADOPTION_TARGET = 0.90
LOGGING_WINDOW = timedelta(days=30)
TREND_MONTHS = 6
QUARTERS_SHOWN = 4
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Rate:
    """`numerator` of `denominator`, against an optional target share."""

    numerator: int
    denominator: int
    target: float | None = None

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": self.value,
            "target": self.target,
            "met": self.met,
        }


@dataclass(frozen=True)
class ReportTimes:
    count: int = 0
    mean_ms: int | None = None
    p50_ms: int | None = None
    p95_ms: int | None = None
    by_kind: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[tuple[str, int]]) -> ReportTimes:
        if not rows:
            return cls()
        durations = sorted(ms for _, ms in rows)
        kinds: dict[str, int] = {}
        for kind, _ in rows:
            kinds[kind] = kinds.get(kind, 0) + 1
        return cls(
            count=len(durations),
            mean_ms=round(sum(durations) / len(durations)),
            p50_ms=_percentile(durations, 0.50),
            p95_ms=_percentile(durations, 0.95),
            by_kind=kinds,
        )


def _percentile(ordered: list[int], share: float) -> int:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * share // 1))  # ceil
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class MonthMetrics:
    month: str  # 2026-11
    logging_coverage: Rate
    adoption: Rate
    centralisation: Rate
    report_times: ReportTimes


@dataclass(frozen=True)
class Metrics:
    period: str
    start: date
    end: date  # exclusive
    measured_at: datetime  # the end of the period, or now while it runs
    feedback_quarter: str
    feedback_completion: Rate
    feedback_by_quarter: list[tuple[str, Rate]]
    logging_coverage: Rate
    adoption: Rate
    recruiters_active: Rate
    centralisation: Rate
    report_times: ReportTimes
    trend: list[MonthMetrics]

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "measured_at": self.measured_at.isoformat(),
            "feedback_completion": {"quarter": self.feedback_quarter} | self.feedback_completion.as_dict(),
            "feedback_by_quarter": [{"quarter": q} | r.as_dict() for q, r in self.feedback_by_quarter],
            "logging_coverage": self.logging_coverage.as_dict(),
            "adoption": self.adoption.as_dict(),
            "recruiters_active": self.recruiters_active.as_dict(),
            "centralisation": self.centralisation.as_dict(),
            "report_times": asdict(self.report_times),
            "trend": [
                {
                    "month": m.month,
                    "logging_coverage": m.logging_coverage.as_dict(),
                    "adoption": m.adoption.as_dict(),
                    "centralisation": m.centralisation.as_dict(),
                    "report_times": asdict(m.report_times),
                }
                for m in self.trend
            ],
        }


def parse_metrics_period(text: str | None, today: date) -> tuple[str, date, date]:
    """`2026-Q4`, `2026-11`, or nothing (the current quarter) -> (label, first day, day after the last)."""
    text = (text or "").strip()
    if not text:
        text = periods.quarter_of(today)
    if match := MONTH.match(text):
        start = date(int(match.group(1)), int(match.group(2)), 1)
        return text, start, _next_month(start)
    try:
        quarter = periods.parse_period(text)
    except ValidationFailed:
        raise ValidationFailed(
            {"period": f"“{text[:40]}” is not a period: use a quarter (2026-Q3) or a month (2026-11)."}
        ) from None
    start = periods.start_of(quarter)
    return quarter, start, _next_month(_next_month(_next_month(start)))


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _instant(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, day_time.min, tz)


def _active_clients(at: datetime) -> Any:
    return select(Client.id).where(Client.status == ClientStatus.ACTIVE.value, Client.created_at < at)


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def _feedback_completion(session: AsyncSession, quarter: str, at: datetime) -> Rate:
    active = _active_clients(at)
    done = (
        select(ClientFeedback.client_id)
        .distinct()
        .where(
            ClientFeedback.feedback_period == quarter,
            ClientFeedback.is_finalized.is_(True),
            ClientFeedback.client_id.in_(active),
        )
    )
    return Rate(await _count(session, done), await _count(session, active), FEEDBACK_TARGET)


async def _logging_coverage(session: AsyncSession, at: datetime) -> Rate:
    active = _active_clients(at)
    logged = (
        select(ClientCommunication.client_id)
        .distinct()
        .where(
            ClientCommunication.client_id.in_(active),
            ClientCommunication.archived_at.is_(None),
            ClientCommunication.communication_date >= at - LOGGING_WINDOW,
            ClientCommunication.communication_date < at,
        )
    )
    return Rate(await _count(session, logged), await _count(session, active), LOGGING_TARGET)


async def _people(session: AsyncSession, role: Role) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(User).where(
            User.role == role.value,
            User.is_guest.is_(False),
            User.is_deleted.is_(False),
            User.is_bot.is_(False),
        )
    )
    return [u.id for u in rows if not users.is_service_account(u)]


async def _active_share(
    session: AsyncSession, people: list[uuid.UUID], start: datetime, end: datetime, target: float | None
) -> Rate:
    if not people:
        return Rate(0, 0, target)
    active = (
        select(AuditLog.actor_id)
        .distinct()
        .where(AuditLog.actor_id.in_(people), AuditLog.created_at >= start, AuditLog.created_at < end)
    )
    return Rate(await _count(session, active), len(people), target)


async def _centralisation(session: AsyncSession, at: datetime) -> Rate:
    active = _active_clients(at)
    primary = select(ClientContact.client_id).where(
        ClientContact.is_primary.is_(True), ClientContact.is_active.is_(True), ClientContact.created_at < at
    )
    complete = select(Client.id).where(
        Client.id.in_(active), Client.account_manager_id.is_not(None), Client.id.in_(primary)
    )
    return Rate(await _count(session, complete), await _count(session, active))


async def _report_times(session: AsyncSession, start: datetime, end: datetime) -> ReportTimes:
    rows = await session.execute(
        select(ReportBuild.kind, ReportBuild.duration_ms).where(
            ReportBuild.built_at >= start, ReportBuild.built_at < end
        )
    )
    return ReportTimes.of([(kind, ms) for kind, ms in rows])


async def build(
    session: AsyncSession, *, actor: User, period: str | None, tz: tzinfo, history: bool = True
) -> Metrics:
    """The metrics for `period` (see the module docstring); HR Managers and Admins only. Without
    `history` (App Home, opened often), the earlier quarters and the monthly trend are left out: they
    cost most of the queries."""
    require(actor, Role.MANAGER, "see the agency's success metrics")
    now = clock.now()
    today = clock.today(tz)
    label, start, end = parse_metrics_period(period, today)
    if start > today:
        raise ValidationFailed({"period": f"{label} has not started yet."})
    start_at, end_at = _instant(start, tz), _instant(end, tz)
    measured = min(end_at, now)
    quarter = periods.quarter_of(end - timedelta(days=1))
    if end > today:  # the quarter is still running: its feedback comes after it ends
        quarter = periods.previous(periods.quarter_of(today))
    quarter_end = _instant(periods.start_of(periods.previous(quarter, -1)), tz)
    managers, recruiters = await _people(session, Role.MANAGER), await _people(session, Role.RECRUITER)
    by_quarter = []
    for n in range(QUARTERS_SHOWN - 1, -1, -1) if history else ():
        q = periods.previous(quarter, n)
        at = _instant(periods.start_of(periods.previous(q, -1)), tz)
        by_quarter.append((q, await _feedback_completion(session, q, at)))
    trend = []
    last_day = (measured - timedelta(microseconds=1)).astimezone(tz).date()
    months = [last_day.replace(day=1)] if history else []
    for _ in range(TREND_MONTHS - 1 if history else 0):
        months.insert(0, date(months[0].year - (months[0].month == 1), (months[0].month - 2) % 12 + 1, 1))
    for first in months:
        m_start, m_end = _instant(first, tz), min(_instant(_next_month(first), tz), now)
        trend.append(
            MonthMetrics(
                month=f"{first:%Y-%m}",
                logging_coverage=await _logging_coverage(session, m_end),
                adoption=await _active_share(session, managers, m_start, m_end, ADOPTION_TARGET),
                centralisation=await _centralisation(session, m_end),
                report_times=await _report_times(session, m_start, m_end),
            )
        )
    return Metrics(
        period=label,
        start=start,
        end=end,
        measured_at=measured,
        feedback_quarter=quarter,
        feedback_completion=await _feedback_completion(session, quarter, quarter_end),
        feedback_by_quarter=by_quarter,
        logging_coverage=await _logging_coverage(session, measured),
        adoption=await _active_share(session, managers, start_at, measured, ADOPTION_TARGET),
        recruiters_active=await _active_share(session, recruiters, start_at, measured, None),
        centralisation=await _centralisation(session, measured),
        report_times=await _report_times(session, start_at, measured),
        trend=trend,
    )


async def timed_build(
    db: Database,
    build_report: Callable[..., Awaitable[T]],
    *args: Any,
    kind: str,
    client_id: uuid.UUID | None = None,
    built_by: uuid.UUID | None = None,
) -> T:
    """Await a report build and record how long it took (report_builds). A failed build records nothing;
    failing to record never fails the build."""
    started = time.perf_counter()  # a duration, not domain time: the monotonic clock is right for it
    result = await build_report(*args)
    duration_ms = round((time.perf_counter() - started) * 1000)
    try:
        async with db.session() as session:
            session.add(
                ReportBuild(kind=kind, client_id=client_id, built_by=built_by, duration_ms=duration_ms)
            )
    except Exception:
        log.exception("could not record the %s report's build time (%s ms)", kind, duration_ms)
    return result
