"""Clients whose health, between them, hits every reason of services/health.py (dates relative to today).

| client   | status   | facts                                                         | score | level    |
|----------|----------|---------------------------------------------------------------|-------|----------|
| Healthy  | active   | contact 2 days ago, feedback 4 → 4, a job filled in 30 days   | 100   | healthy  |
| Watched  | active   | contact 40 days ago, 1 overdue follow-up (+ snoozed, done)    | 75    | watch    |
| Falling  | active   | contact 70 days ago, feedback 4.5 → 3.0                       | 45    | at-risk  |
| Stalled  | on-hold  | no feedback, job open 100 days vs 30 to fill, pipeline 20 d   | 45    | at-risk  |
| Gone     | inactive | nothing: no health                                            | —     | —        |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    Application,
    Candidate,
    Client,
    ClientCommunication,
    ClientFeedback,
    ClientStatus,
    Job,
    Role,
    User,
)
from bot.services import periods
from tests import factories


@dataclass
class World:
    manager: User
    healthy: Client
    watched: Client
    falling: Client
    stalled: Client
    gone: Client

    @property
    def tracked(self) -> list[Client]:
        return [self.healthy, self.watched, self.falling, self.stalled]


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _comm(client: Client, who: User, when: datetime, **extra: object) -> ClientCommunication:
    return ClientCommunication(
        client_id=client.id,
        communication_type="call",
        subject="Catch-up",
        communication_date=when,
        logged_by=who.id,
        created_at=when,
        **extra,
    )


def _feedback(client: Client, who: User, period: str, overall: int) -> ClientFeedback:
    return ClientFeedback(
        client_id=client.id,
        feedback_period=period,
        feedback_date=periods.start_of(period),
        overall_satisfaction=overall,
        submitted_by=who.id,
        is_finalized=True,
    )


async def build(session: AsyncSession, today: date, manager_id: str = "UMANAGER") -> World:
    manager = await factories.user(session, manager_id, Role.MANAGER)
    made = []
    for n, name in enumerate(("Healthy", "Watched", "Falling", "Stalled", "Gone")):
        client = await factories.client(
            session,
            manager,
            f"{name} Ltd",
            website=None,
            contacts=[{"full_name": f"Contact {n}", "email": f"c{n}@{name.lower()}.example.com"}],
        )
        client.created_at = at(today - timedelta(days=400))
        made.append(client)
    healthy, watched, falling, stalled, gone = made
    stalled.status = ClientStatus.ON_HOLD.value
    gone.status = ClientStatus.INACTIVE.value
    last, before = (
        periods.last_completed_quarter(today),
        periods.previous(periods.last_completed_quarter(today)),
    )
    session.add_all(
        [
            _comm(healthy, manager, at(today - timedelta(days=2))),
            _comm(
                watched,
                manager,
                at(today - timedelta(days=40)),
                follow_up_required=True,
                follow_up_date=today - timedelta(days=5),
            ),
            _comm(
                watched,
                manager,
                at(today - timedelta(days=45)),
                follow_up_required=True,
                follow_up_date=today - timedelta(days=6),
                follow_up_snoozed_until=today + timedelta(days=3),
            ),
            _comm(
                watched,
                manager,
                at(today - timedelta(days=50)),
                follow_up_required=True,
                follow_up_date=today - timedelta(days=7),
                follow_up_done_at=at(today - timedelta(days=1)),
            ),
            _comm(falling, manager, at(today - timedelta(days=70))),
            _comm(stalled, manager, at(today - timedelta(days=1))),
            _feedback(healthy, manager, last, 4),
            _feedback(healthy, manager, before, 4),
            _feedback(watched, manager, last, 4),
            _feedback(falling, manager, before, 5),
            _feedback(falling, manager, last, 3),
        ]
    )
    other = await factories.user(session, "UCOLLEAGUE", Role.MANAGER)
    session.add_all([_feedback(falling, other, before, 4), _feedback(falling, other, last, 3)])  # 4.5 → 3.0
    filled = Job(
        reference="JOB-H-1",
        title="Filled",
        client_id=healthy.id,
        status="filled",
        opened_at=at(today - timedelta(days=60)),
        filled_at=at(today - timedelta(days=30)),
    )
    stalled_filled = Job(
        reference="JOB-S-1",
        title="Filled",
        client_id=stalled.id,
        status="filled",
        opened_at=at(today - timedelta(days=200)),
        filled_at=at(today - timedelta(days=170)),
    )
    stalled_open = Job(
        reference="JOB-S-2",
        title="Open",
        client_id=stalled.id,
        status="open",
        opened_at=at(today - timedelta(days=100)),
    )
    session.add_all([filled, stalled_filled, stalled_open])
    await session.flush()
    candidate = Candidate(full_name="Cand", email="cand@example.com")
    session.add(candidate)
    await session.flush()
    session.add(
        Application(
            job_id=stalled_open.id,
            candidate_id=candidate.id,
            stage="interviewed",
            stage_changed_at=at(today - timedelta(days=20)),
        )
    )
    await session.flush()
    return World(manager, healthy, watched, falling, stalled, gone)
