"""The weekly channel digest: what happened across all clients in a week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Application, AuditLog, Client, ClientCommunication, ClientFeedback, Job, Stage
from bot.services.communications import OPEN_FOLLOW_UP


@dataclass
class Digest:
    start: datetime
    end: datetime
    new_clients: list[str] = field(default_factory=list)
    status_changes: list[str] = field(default_factory=list)
    jobs_opened: int = 0
    jobs_filled: int = 0
    hires: int = 0
    revenue: Decimal = Decimal("0.00")
    feedback_received: int = 0
    overdue: list[tuple[str, str, date]] = field(default_factory=list)
    overdue_count: int = 0
    hires_per_day: list[tuple[str, int]] = field(default_factory=list)
    health: Any = None  # services.health.RiskReport, filled in by the scheduler


async def weekly(session: AsyncSession, *, start: datetime, end: datetime, today: date) -> Digest:
    digest = Digest(start=start, end=end)

    def in_week(column: Any) -> tuple[Any, Any]:
        return column >= start, column < end

    digest.new_clients = [
        f"{code} {name}"
        for code, name in await session.execute(
            select(Client.client_code, Client.name)
            .where(*in_week(Client.created_at))
            .order_by(Client.client_code)
        )
    ]
    changes = await session.execute(
        select(AuditLog.before, AuditLog.after, Client.client_code)
        .join(Client, Client.id == AuditLog.entity_id)
        .where(AuditLog.action == "client.status_changed", *in_week(AuditLog.created_at))
        .order_by(AuditLog.created_at)
    )
    digest.status_changes = [
        f"{code}: {before.get('status')} → {after.get('status')}" for before, after, code in changes
    ]
    digest.jobs_opened = await session.scalar(select(func.count()).where(*in_week(Job.opened_at))) or 0
    digest.jobs_filled = await session.scalar(select(func.count()).where(*in_week(Job.filled_at))) or 0
    hired = (
        await session.execute(
            select(Application.hired_at, func.coalesce(Application.placement_fee, Job.fee))
            .join(Job, Job.id == Application.job_id)
            .where(Application.stage == Stage.HIRED.value, *in_week(Application.hired_at))
        )
    ).all()
    digest.hires = len(hired)
    digest.revenue = sum((Decimal(fee or 0) for _, fee in hired), Decimal("0")).quantize(Decimal("0.01"))
    days = [(start + timedelta(days=n)).date() for n in range((end - start).days)]
    digest.hires_per_day = [(f"{d:%a %d}", sum(1 for at, _ in hired if at.date() == d)) for d in days]
    digest.feedback_received = (
        await session.scalar(select(func.count()).where(*in_week(ClientFeedback.created_at))) or 0
    )
    overdue = (
        select(ClientCommunication.subject, Client.client_code, ClientCommunication.follow_up_date)
        .join(Client, Client.id == ClientCommunication.client_id)
        .where(*OPEN_FOLLOW_UP, ClientCommunication.follow_up_date < today)
    )
    digest.overdue_count = await session.scalar(select(func.count()).select_from(overdue.subquery())) or 0
    digest.overdue = [
        (code, subject or "", due)
        for subject, code, due in await session.execute(
            overdue.order_by(ClientCommunication.follow_up_date).limit(10)
        )
    ]
    return digest
