"""Health changes found by the nightly snapshot reach the channels subscribed to them (issue 13, item 2):
subscribed through signed `/client subscribe CODE health` requests, posted by the `subscription_posts` job,
once, with the private reasons and score kept out of a channel shared with another organisation."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from bot import clock as app_clock
from bot.models import ClientStatus, SubscriptionOutbox
from bot.scheduler import run_job
from bot.services import health, periods
from tests import health_world
from tests.health_world import _comm
from tests.test_subscriptions import _posts, _set_status, _subscribe

UTC = ZoneInfo("UTC")
INTERNAL, SHARED = "CACCOUNTS", "CPARTNER"


@pytest.fixture
async def world(rt, clock) -> health_world.World:
    today = app_clock.today(UTC)
    if periods.quarter_of(today + timedelta(days=1)) != periods.quarter_of(today):
        # The last day of a quarter: a day earlier, so that the two nights see the same feedback quarters.
        clock.move_to(datetime.combine(today - timedelta(days=1), time(10), UTC))
    async with rt.db.session() as session:
        return await health_world.build(session, app_clock.today(UTC))


def _night(day: date) -> datetime:
    return datetime.combine(day, time(0, 10), UTC)


async def _outbox_count(rt) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(SubscriptionOutbox)) or 0


async def test_a_level_change_between_two_nights_is_posted_once(slack, fake, rt, clock, world) -> None:
    today = app_clock.today(UTC)
    fake.add_channel(INTERNAL, "accounts")
    fake.add_channel(SHARED, "acme-partner", ext_shared=True)
    for client in (world.healthy, world.watched, world.falling):
        assert "health changes" in await _subscribe(slack, fake, f"{client.client_code} health")
    for client in (world.healthy, world.falling):
        assert "health changes" in await _subscribe(
            slack, fake, f"{client.client_code} health", channel=SHARED
        )

    # The first snapshot ever: nothing to compare with, nothing published.
    assert "health of 4 clients" in await run_job(rt, "nightly_health", _night(today), since_install=False)
    assert await _outbox_count(rt) == 0

    # The next day: Healthy goes on hold with two overdue follow-ups (healthy → watch); Falling is called
    # at last (at risk → healthy, its falling feedback remains); Watched and Stalled stay where they were.
    tomorrow = today + timedelta(days=1)
    clock.move_to(datetime.combine(tomorrow, time(0, 5), UTC))
    await _set_status(rt, world.healthy, ClientStatus.ON_HOLD, "budget freeze")
    async with rt.db.session() as session:
        at = health_world.at(today - timedelta(days=3))
        session.add_all(
            [
                _comm(
                    world.healthy,
                    world.manager,
                    at,
                    follow_up_required=True,
                    follow_up_date=today - timedelta(days=d),
                )
                for d in (1, 2)
            ]
            + [_comm(world.falling, world.manager, app_clock.now())]
        )
    assert "health of 4 clients" in await run_job(rt, "nightly_health", _night(tomorrow), since_install=False)
    assert await _outbox_count(rt) == 4  # two clients changed, each followed by two channels
    assert await run_job(rt, "subscription_posts") == "posted 4 update(s)"

    internal = [json.dumps(c.params, ensure_ascii=False) for c in _posts(fake, INTERNAL)]
    shared = [json.dumps(c.params, ensure_ascii=False) for c in _posts(fake, SHARED)]
    assert len(internal) == len(shared) == 2
    assert not any(world.watched.client_code in text for text in internal)  # no change, no post
    [became_watch] = [t for t in internal if world.healthy.client_code in t]
    assert "*healthy* → *watch*: 2 overdue follow-ups, on hold · score 60" in became_watch
    [recovered] = [t for t in internal if world.falling.client_code in t]
    assert "*at risk* → *healthy*: feedback 4.5 → 3.0 · score 80" in recovered
    # The shared channel sees the change and the reasons quoting no private figure; no score, no feedback.
    [shared_watch] = [t for t in shared if world.healthy.client_code in t]
    assert (
        "*healthy* → *watch*: 2 overdue follow-ups, on hold" in shared_watch and "score" not in shared_watch
    )
    [shared_recovered] = [t for t in shared if world.falling.client_code in t]
    assert "*at risk* → *healthy*" in shared_recovered
    assert "4.5" not in shared_recovered and "3.0" not in shared_recovered and "score" not in shared_recovered

    # The same night again, by the job or by hand: nothing published, nothing posted twice.
    assert "already taken" in await run_job(rt, "nightly_health", _night(tomorrow), since_install=False)
    async with rt.db.session() as session:
        assert await health.snapshot_all(session, tomorrow) == 4
    assert await _outbox_count(rt) == 4
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    assert len(_posts(fake, INTERNAL)) == len(_posts(fake, SHARED)) == 2


async def test_a_change_seen_by_a_rerun_the_same_day_is_published_once(slack, fake, rt, world) -> None:
    """A re-run compares with that day's first snapshot: only what changed since is published."""
    today = app_clock.today(UTC)
    fake.add_channel(INTERNAL, "accounts")
    await _subscribe(slack, fake, f"{world.watched.client_code} health")
    async with rt.db.session() as session:
        await health.snapshot_all(session, today)
    async with rt.db.session() as session:
        session.add(_comm(world.watched, world.manager, app_clock.now()))  # 75 → 90: watch → healthy
    for _ in range(2):
        async with rt.db.session() as session:
            await health.snapshot_all(session, today)
    async with rt.db.session() as session:
        [row] = await session.scalars(select(SubscriptionOutbox))
    assert row.payload["before"] == "watch" and row.payload["after"] == "healthy"
    assert row.payload["score"] == 90 and row.payload["public_reasons"] == row.payload["reasons"]


async def test_without_health_subscriptions_the_snapshot_makes_no_query_per_client(rt, world) -> None:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    async with rt.db.session() as session:
        await health.snapshot_all(session, app_clock.today(UTC) - timedelta(days=1))
    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with rt.db.session() as session:
            await health.snapshot_all(session, app_clock.today(UTC))
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) <= 9  # clients, followers, five for the health, the upsert (+ a savepoint)
    assert not any("subscription_outbox" in s.lower() for s in statements)
