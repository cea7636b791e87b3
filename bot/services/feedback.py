"""Client feedback by quarter: drafts per submitter, finalisation by HR Managers, history, performance
reports with period comparison, and retention."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.errors import Conflict, NotFound, ValidationFailed
from bot.models import (
    RATING_COLUMNS,
    Client,
    ClientFeedback,
    ClientStatus,
    Role,
    SubscriptionEvent,
    User,
    utcnow,
)
from bot.roles import require
from bot.services import audit, clients, communications, subscriptions
from bot.services.inputs import parse_input
from bot.services.periods import last_completed_quarter, parse_period, previous, sort_key

CRITERIA = {
    "responsiveness_rating": "Responsiveness",
    "communication_rating": "Communication",
    "requirements_clarity_rating": "Requirements Clarity",
    "decision_speed_rating": "Decision Speed",
    "overall_satisfaction": "Overall satisfaction",
}
assert tuple(CRITERIA) == RATING_COLUMNS
Rating = Field(ge=1, le=5)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    feedback_period: str
    responsiveness_rating: int = Rating
    communication_rating: int = Rating
    requirements_clarity_rating: int = Rating
    decision_speed_rating: int = Rating
    overall_satisfaction: int = Rating
    written_feedback: str | None = Field(default=None, max_length=5000)

    @field_validator("feedback_period")
    @classmethod
    def _period(cls, value: str) -> str:
        if not value:
            raise ValidationFailed({"feedback_period": "Choose the period this feedback is about."})
        return parse_period(value, "feedback_period")

    @field_validator("written_feedback", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def parse_feedback(data: dict[str, Any]) -> FeedbackIn:
    return parse_input(FeedbackIn, data)


async def submit(
    session: AsyncSession, *, actor: User, client_id: uuid.UUID, data: FeedbackIn, today: date | None = None
) -> tuple[ClientFeedback, bool]:
    """Save the actor's feedback for the period: (row, created). Submitting again updates the draft;
    once the period is finalised it is read-only."""
    require(actor, Role.MANAGER, "submit client feedback")
    client = await clients.get(session, client_id)
    communications.require_view(actor, client)
    period_rows = select(ClientFeedback).where(
        ClientFeedback.client_id == client.id, ClientFeedback.feedback_period == data.feedback_period
    )
    if await session.scalar(select(period_rows.where(ClientFeedback.is_finalized.is_(True)).exists())):
        raise Conflict(f"Feedback for {data.feedback_period} is finalised and read-only.")
    row = await session.scalar(period_rows.where(ClientFeedback.submitted_by == actor.id))
    values = data.model_dump(exclude={"feedback_period"})
    if row is None:
        row = ClientFeedback(
            id=uuid.uuid4(),
            client_id=client.id,
            feedback_period=data.feedback_period,
            feedback_date=today or clock.today(UTC),
            submitted_by=actor.id,
            **values,
        )
        session.add(row)
        await session.flush()
        audit.record(session, actor=actor, action="feedback.submitted", entity=row, after=audit.snapshot(row))
        return row, True
    before = audit.snapshot(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.feedback_date = today or clock.today(UTC)
    await session.flush()
    audit.record_changes(session, actor=actor, action="feedback.updated", entity=row, before=before)
    return row, False


async def finalize(session: AsyncSession, *, actor: User, client_id: uuid.UUID, period: str) -> int:
    """Only HR Managers (and Admins) finalise a period's report; its feedback then becomes read-only."""
    require(actor, Role.MANAGER, "finalize performance reports")
    period = parse_period(period)
    rows = list(
        await session.scalars(
            select(ClientFeedback).where(
                ClientFeedback.client_id == client_id,
                ClientFeedback.feedback_period == period,
                ClientFeedback.is_finalized.is_(False),
            )
        )
    )
    if not rows:
        finalized = await session.scalar(
            select(func.count()).where(
                ClientFeedback.client_id == client_id, ClientFeedback.feedback_period == period
            )
        )
        if finalized:
            raise Conflict(f"{period} is already finalised.")
        raise NotFound(f"No feedback for {period} to finalise.")
    now = utcnow()
    for row in rows:
        row.is_finalized, row.finalized_by, row.finalized_at = True, actor.id, now
        audit.record(
            session,
            actor=actor,
            action="feedback.finalized",
            entity=row,
            before={"is_finalized": False},
            after={"is_finalized": True, "period": period},
        )
    overall = [r.overall_satisfaction for r in rows if r.overall_satisfaction is not None]
    await subscriptions.publish(
        session,
        await clients.get(session, client_id),
        SubscriptionEvent.FEEDBACK,
        period=period,
        responses=len(rows),
        overall=round(sum(overall) / len(overall), 2) if overall else None,
        by=actor.slack_user_id,
    )
    await session.flush()
    return len(rows)


@dataclass
class PeriodSummary:
    period: str
    responses: int
    averages: dict[str, float | None]
    finalized: bool
    written: list[str] = field(default_factory=list)


async def by_period(session: AsyncSession, *, actor: User, client_id: uuid.UUID) -> list[PeriodSummary]:
    """Every period with feedback, oldest first: averages per criterion from one grouped query."""
    client = await clients.get(session, client_id)
    communications.require_view(actor, client)
    columns = [getattr(ClientFeedback, c) for c in RATING_COLUMNS]
    rows = await session.execute(
        select(
            ClientFeedback.feedback_period,
            func.count(),
            *(func.avg(c) for c in columns),
            func.min(func.cast(ClientFeedback.is_finalized, type_=columns[0].type)),
        )
        .where(ClientFeedback.client_id == client.id)
        .group_by(ClientFeedback.feedback_period)
    )
    written: dict[str, list[str]] = defaultdict(list)
    for period, text in await session.execute(
        select(ClientFeedback.feedback_period, ClientFeedback.written_feedback).where(
            ClientFeedback.client_id == client.id, ClientFeedback.written_feedback.is_not(None)
        )
    ):
        written[period].append(text)
    summaries = [
        PeriodSummary(
            period=row[0],
            responses=row[1],
            averages={
                c: round(float(v), 2) if v is not None else None
                for c, v in zip(RATING_COLUMNS, row[2:7], strict=True)
            },
            finalized=bool(row[7]),
            written=written.get(row[0], []),
        )
        for row in rows
    ]
    return sorted(summaries, key=lambda s: sort_key(s.period))


@dataclass
class PerformanceReport:
    client: Client
    periods: list[PeriodSummary]
    period: PeriodSummary | None
    compared: PeriodSummary | None
    deltas: dict[str, float | None]


async def report(
    session: AsyncSession,
    *,
    actor: User,
    client_id: uuid.UUID,
    period: str | None,
    vs: str | None,
    today: date,
) -> PerformanceReport:
    """The trend over all periods, and the chosen period against another (default: the one before it).
    Performance reports are an HR Manager's tool (the contract's manager rights)."""
    require(actor, Role.MANAGER, "build performance reports")
    client = await clients.get(session, client_id, viewer=actor)
    history = await by_period(session, actor=actor, client_id=client.id)
    chosen = (
        parse_period(period) if period else (history[-1].period if history else last_completed_quarter(today))
    )
    other = parse_period(vs, "vs") if vs else previous(chosen)
    found = {s.period: s for s in history}
    current, earlier = found.get(chosen), found.get(other)
    if current is None:
        raise NotFound(f"No feedback for {chosen} yet.")
    deltas = {
        c: (
            round(current.averages[c] - earlier.averages[c], 2)
            if earlier and current.averages[c] is not None and earlier.averages[c] is not None
            else None
        )
        for c in RATING_COLUMNS
    }
    compared = earlier or PeriodSummary(other, 0, dict.fromkeys(RATING_COLUMNS), False)
    return PerformanceReport(client, history, current, compared, deltas)


async def purge_older_than(session: AsyncSession, *, years: int, today: date) -> int:
    """Retention: remove feedback older than `years` years; returns how many rows went."""
    cutoff = today - timedelta(days=round(365.25 * years))
    result = await session.execute(delete(ClientFeedback).where(ClientFeedback.feedback_date < cutoff))
    return result.rowcount or 0


async def reminders_due(session: AsyncSession, *, period: str) -> dict[uuid.UUID, list[Client]]:
    """Per account manager: their active clients with no feedback for `period`."""
    with_feedback = select(ClientFeedback.client_id).where(ClientFeedback.feedback_period == period)
    rows = await session.scalars(
        select(Client)
        .where(
            Client.status == ClientStatus.ACTIVE.value,
            Client.account_manager_id.is_not(None),
            Client.id.not_in(with_feedback),
        )
        .order_by(Client.name)
    )
    due: dict[uuid.UUID, list[Client]] = defaultdict(list)
    for client in rows:
        due[client.account_manager_id].append(client)
    return dict(due)
