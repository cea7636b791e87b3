"""Client health at the service layer: every reason, levels, thresholds, hot flag, snapshots, list order."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import clock
from bot.errors import PermissionDenied, ValidationFailed
from bot.models import AuditLog, ClientHealthSnapshot, Role
from bot.services import clients, health, periods
from tests import factories, health_world

UTC = ZoneInfo("UTC")


@pytest.fixture
async def world(db) -> health_world.World:
    async with db.session() as session:
        return await health_world.build(session, clock.today(UTC))


async def _health(db, world, **thresholds) -> dict:
    async with db.session() as session:
        return await health.compute(
            session,
            [c.id for c in (*world.tracked, world.gone)],
            today=clock.today(UTC),
            thresholds=health.Thresholds(**thresholds),
        )


def _codes(h: health.Health) -> set[str]:
    return {r.code for r in h.reasons}


async def test_every_reason_and_level(db, world) -> None:
    result = await _health(db, world)
    assert world.gone.id not in result  # inactive: out of the game
    healthy, watched = result[world.healthy.id], result[world.watched.id]
    falling, stalled = result[world.falling.id], result[world.stalled.id]

    assert (healthy.score, healthy.level, healthy.reasons) == (100, health.Level.HEALTHY, [])
    assert healthy.days_since_contact == 2

    assert (watched.score, watched.level) == (75, health.Level.WATCH)
    assert _codes(watched) == {"no_contact", "overdue_follow_ups"}
    texts = [r.text for r in watched.reasons]
    assert "last contact 40 days ago" in texts
    assert "1 overdue follow-up" in texts  # the snoozed and the done one do not count

    assert (falling.score, falling.level) == (45, health.Level.AT_RISK)
    assert _codes(falling) == {"no_contact", "feedback_falling"}
    assert "feedback 4.5 → 3.0" in [r.text for r in falling.reasons]

    assert (stalled.score, stalled.level) == (45, health.Level.AT_RISK)
    assert _codes(stalled) == {"on_hold", "stale_jobs", "pipeline_stalled", "feedback_missing"}
    texts = [r.text for r in stalled.reasons]
    assert "1 open job older than 30 days to fill" in texts
    assert "pipeline unmoved for 20 days" in texts
    last_quarter = periods.last_completed_quarter(clock.today(UTC))
    assert f"no feedback for {last_quarter}" in texts
    assert stalled.reasons[0].penalty == max(r.penalty for r in stalled.reasons)  # worst first


async def test_thresholds_are_configurable(db, world) -> None:
    result = await _health(db, world, contact_watch_days=50, contact_risk_days=100, pipeline_stale_days=30)
    assert _codes(result[world.watched.id]) == {"overdue_follow_ups"}
    assert result[world.watched.id].level == health.Level.HEALTHY
    falling = result[world.falling.id]
    assert "last contact 70 days ago" in [r.text for r in falling.reasons]
    assert falling.score == 100 - 15 - 20
    assert "pipeline_stalled" not in _codes(result[world.stalled.id])
    strict = await _health(db, world, watch_below=101, risk_below=100)
    assert strict[world.healthy.id].level == health.Level.WATCH


async def test_thresholds_come_from_settings(settings) -> None:
    settings.health_contact_watch_days = 7
    settings.health_risk_below = 40
    thresholds = health.Thresholds.of(settings)
    assert thresholds.contact_watch_days == 7 and thresholds.risk_below == 40


async def test_new_client_is_not_blamed_for_missing_feedback(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        fresh = await factories.client(session, manager, "Fresh")
        result = await health.of_client(session, fresh, today=clock.today(UTC))
    assert result is not None and result.reasons == [] and result.days_since_contact is None
    assert result.contact_text == "no contact yet"


async def test_hot_flag_is_for_managers_and_audited(db, world) -> None:
    async with db.session() as session:
        recruiter = await factories.user(session, "URECRUITER", Role.RECRUITER)
        client = await clients.get(session, world.healthy.id)
        with pytest.raises(PermissionDenied):
            await health.set_hot(session, actor=recruiter, client=client, hot=True)
        assert await health.set_hot(session, actor=world.manager, client=client, hot=True)
        assert not await health.set_hot(session, actor=world.manager, client=client, hot=True)
    async with db.session() as session:
        entries = list(await session.scalars(select(AuditLog).where(AuditLog.action == "client.hot_changed")))
        result = await health.of_client(session, world.healthy, today=clock.today(UTC))
    assert len(entries) == 1 and entries[0].after == {"is_hot": True}
    assert result.hot and result.as_dict()["hot"] is True


async def test_snapshot_sorts_and_filters_the_list(db, world) -> None:
    today = clock.today(UTC)
    async with db.session() as session:
        assert await health.snapshot_all(session, today) == 4
        assert await health.snapshot_all(session, today) == 4  # same day again: updated, not doubled
    async with db.session() as session:
        rows = list(await session.scalars(select(ClientHealthSnapshot)))
        assert len(rows) == 4
        manager = world.manager
        page = await clients.list_clients(
            session, filters=clients.ClientFilter(sort_by="health"), viewer=manager
        )
        names = [c.name for c in page.clients]
        assert sorted(names[:2]) == ["Falling Ltd", "Stalled Ltd"]  # at risk (45)
        assert names[-1] == "Gone Ltd"  # no snapshot: last
        best = await clients.list_clients(
            session, filters=clients.ClientFilter(sort_by="-health"), viewer=manager
        )
        assert best.clients[0].name == "Healthy Ltd"
        at_risk = await clients.list_clients(
            session, filters=clients.ClientFilter(health="at-risk"), viewer=manager
        )
        assert {c.name for c in at_risk.clients} == {"Falling Ltd", "Stalled Ltd"} and at_risk.total == 2
        with pytest.raises(ValidationFailed):
            await clients.list_clients(session, filters=clients.ClientFilter(health="grim"), viewer=manager)


async def test_risk_report_names_newly_at_risk(db, world) -> None:
    today = clock.today(UTC)
    async with db.session() as session:
        await health.snapshot_all(session, today - timedelta(days=7))
        # A week ago Falling was already at risk; pretend Stalled was only on watch.
        await session.execute(
            ClientHealthSnapshot.__table__.update()
            .where(ClientHealthSnapshot.client_id == world.stalled.id)
            .values(level="watch", score=60)
        )
        await health.snapshot_all(session, today)
        report = await health.risk_report(session, today=today)
    assert report.day == today and report.total == 2
    assert [code for code, _, _ in report.at_risk] == sorted(
        [world.falling.client_code, world.stalled.client_code]
    )
    assert report.newly == [world.stalled.client_code]


async def test_page_computation_is_set_based(db, world) -> None:
    """One query whatever the number of clients (no N+1)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(*_args) -> None:
        statements.append("x")

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await _health(db, world)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1


async def test_newly_at_risk_compares_with_the_last_snapshot_a_week_before(db, world) -> None:
    today = clock.today(UTC)
    async with db.session() as session:
        await health.snapshot_all(session, today)
        first = await health.risk_report(session, today=today)
        await health.snapshot_all(session, today - timedelta(days=9))  # the night 7 days ago was missed
        later = await health.risk_report(session, today=today)
    assert len(first.newly) == 2  # no history: every client at risk is new
    # 9 days ago Falling was already at risk; Stalled's pipeline had moved 11 days before (not yet stale).
    assert later.newly == [world.stalled.client_code]


async def test_a_stale_job_is_open_longer_than_the_clients_time_to_fill_counted_in_whole_utc_days(
    db, world
) -> None:
    """Stalled fills in 30 days. Open for 30 days (late on the UTC day) is not stale; 31 days (just after
    midnight) is, as is the 100-day one. Healthy fills in 30 days too; a client with nothing filled is
    measured against `default_fill_days`."""
    from bot.models import Job

    today = clock.today(UTC)
    async with db.session() as session:
        for n, (client, days, hour, minute) in enumerate(
            [
                (world.stalled, 30, 23, 59),
                (world.stalled, 31, 0, 1),
                (world.healthy, 30, 0, 1),
                (world.falling, 12, 12, 0),
            ]
        ):
            opened = health_world.at(today - timedelta(days=days)).replace(hour=hour, minute=minute)
            session.add(
                Job(
                    reference=f"JOB-B-{n}", title="Open", client_id=client.id, status="open", opened_at=opened
                )
            )
    result = await _health(db, world, default_fill_days=11)
    stale = {
        c: next((r.text for r in result[c.id].reasons if r.code == "stale_jobs"), None) for c in world.tracked
    }
    assert stale[world.stalled] == "2 open jobs older than 30 days to fill"
    assert stale[world.healthy] is None  # 30 days, not more
    assert stale[world.falling] == "1 open job older than 11 days to fill"  # nothing filled: the default
    assert stale[world.watched] is None


async def test_a_listed_page_carries_the_health_compute_gives_its_clients(db, world) -> None:
    """The list reads each client's health in its page statement: page by page (one client a page, so
    every page but the first is cut by an offset), the same health as `compute`, for that page's
    client only, and none for a client that is not tracked."""
    today = clock.today(UTC)
    expected = await _health(db, world)
    seen: dict = {}
    async with db.session() as session:
        first = await clients.list_clients(
            session, filters=clients.ClientFilter(), per_page=1, viewer=world.manager, health_on=today
        )
        for number in range(1, first.pages + 1):
            page = await clients.list_clients(
                session,
                filters=clients.ClientFilter(),
                page=number,
                per_page=1,
                viewer=world.manager,
                health_on=today,
            )
            assert page.page == number and len(page.clients) == 1 and page.health is not None
            assert set(page.health) <= {page.clients[0].id}
            seen |= page.health
    assert {i: h.as_dict() for i, h in seen.items()} == {i: h.as_dict() for i, h in expected.items()}
    assert world.gone.id not in seen  # inactive: never scored
    assert first.pages == first.total >= len(expected) + 1
