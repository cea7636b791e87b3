"""The weekly channel digest: what happened across all clients in a week, against the week before."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    OPEN_FOLLOW_UP,
    Application,
    AuditLog,
    Candidate,
    Client,
    ClientCommunication,
    ClientFeedback,
    Job,
    Stage,
    User,
)


@dataclass
class Hire:
    candidate: str
    job: str
    client_name: str | None
    client_code: str | None
    at: datetime


@dataclass
class Overdue:
    client_name: str
    client_code: str
    subject: str
    due: date
    owner_slack_id: str | None


@dataclass
class WeekFigures:
    """The counts compared week on week."""

    new_clients: int = 0
    jobs_opened: int = 0
    jobs_filled: int = 0
    hires: int = 0
    revenue: Decimal = Decimal("0.00")
    feedback_received: int = 0


@dataclass
class Digest:
    start: datetime
    end: datetime  # exclusive: the midnight after the week's last day
    new_clients: list[tuple[str, str]] = field(default_factory=list)  # (name, code)
    status_changes: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, code, from, to
    figures: WeekFigures = field(default_factory=WeekFigures)
    previous: WeekFigures = field(default_factory=WeekFigures)
    hired: list[Hire] = field(default_factory=list)
    overdue: list[Overdue] = field(default_factory=list)
    overdue_count: int = 0
    hires_per_day: list[tuple[str, int]] = field(default_factory=list)
    health: Any = None  # services.health.RiskReport, filled in by the scheduler
    today: date | None = None  # when it is sent: overdue follow-ups are late relative to this day

    @property
    def last_day(self) -> date:
        """The week's last day (Sunday for a Monday-to-Monday week): what the header and chart end on."""
        return (self.end - timedelta(days=1)).date()

    @property
    def hires(self) -> int:
        return self.figures.hires

    @property
    def revenue(self) -> Decimal:
        return self.figures.revenue


async def _figures(session: AsyncSession, start: datetime, end: datetime) -> tuple[WeekFigures, list[Any]]:
    def in_week(column: Any) -> tuple[Any, Any]:
        return column >= start, column < end

    async def count(*where: Any) -> int:
        return await session.scalar(select(func.count()).where(*where)) or 0

    hired = (
        await session.execute(
            select(
                Application.hired_at,
                func.coalesce(Application.placement_fee, Job.fee),
                Candidate.full_name,
                Job.title,
                Client.name,
                Client.client_code,
            )
            .join(Job, Job.id == Application.job_id)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .outerjoin(Client, Client.id == Job.client_id)
            .where(Application.stage == Stage.HIRED.value, *in_week(Application.hired_at))
            .order_by(Application.hired_at)
        )
    ).all()
    figures = WeekFigures(
        new_clients=await count(*in_week(Client.created_at)),
        jobs_opened=await count(*in_week(Job.opened_at)),
        jobs_filled=await count(*in_week(Job.filled_at)),
        hires=len(hired),
        revenue=sum((Decimal(row[1] or 0) for row in hired), Decimal("0")).quantize(Decimal("0.01")),
        feedback_received=await count(*in_week(ClientFeedback.created_at)),
    )
    return figures, hired


async def weekly(session: AsyncSession, *, start: datetime, end: datetime, today: date) -> Digest:
    digest = Digest(start=start, end=end, today=today)
    digest.figures, hired = await _figures(session, start, end)
    digest.previous, _ = await _figures(session, start - (end - start), start)
    digest.new_clients = [
        (name, code)
        for code, name in await session.execute(
            select(Client.client_code, Client.name)
            .where(Client.created_at >= start, Client.created_at < end)
            .order_by(Client.client_code)
        )
    ]
    changes = await session.execute(
        select(AuditLog.before, AuditLog.after, Client.name, Client.client_code)
        .join(Client, Client.id == AuditLog.entity_id)
        .where(
            AuditLog.action == "client.status_changed",
            AuditLog.created_at >= start,
            AuditLog.created_at < end,
        )
        .order_by(AuditLog.created_at)
    )
    digest.status_changes = [
        (name, code, str(before.get("status")), str(after.get("status")))
        for before, after, name, code in changes
        if before.get("status") != after.get("status")  # on-hold → on-hold (a new reason) is no change
    ]
    digest.hired = [Hire(person, title, name, code, at) for at, _, person, title, name, code in hired]
    days = [(start + timedelta(days=n)).date() for n in range((end - start).days)]
    digest.hires_per_day = [(f"{d:%a %d}", sum(1 for h in digest.hired if h.at.date() == d)) for d in days]
    overdue = (
        select(
            ClientCommunication.subject,
            Client.name,
            Client.client_code,
            ClientCommunication.follow_up_date,
            User.slack_user_id,
        )
        .join(Client, Client.id == ClientCommunication.client_id)
        .outerjoin(User, User.id == ClientCommunication.logged_by)
        .where(*OPEN_FOLLOW_UP, ClientCommunication.follow_up_date < today)
    )
    digest.overdue_count = await session.scalar(select(func.count()).select_from(overdue.subquery())) or 0
    digest.overdue = [
        Overdue(name, code, subject or "", due, owner)
        for subject, name, code, due, owner in await session.execute(
            overdue.order_by(ClientCommunication.follow_up_date).limit(10)
        )
    ]
    return digest
