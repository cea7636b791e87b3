"""Statements built once and read in autocommit run on asyncpg itself (`bot.db.read_rows`, issue 14): what a
reader gets that way must be what SQLAlchemy's own execution gives, value for value and type for type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from bot.db import Database, read_rows
from bot.models import ClientStatus, User
from bot.services import clients, communications, dashboard, health, users
from tests.conftest import MANAGER, TEST_NOW
from tests.test_dashboard import seed_account

pytestmark = pytest.mark.asyncio


async def _both_ways(db: Database, read: Callable[[Any], Awaitable[Any]]) -> tuple[Any, Any, list[Any]]:
    """`read(session)` in a unit of work (a transaction: SQLAlchemy runs every statement) and in a reading
    session (autocommit: statements built once run on the driver), with what the engine saw run by the
    driver (no execution context) during the second."""
    async with db.session() as session:
        through_sqlalchemy = await read(session)
    on_driver: list[Any] = []

    def seen(_conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, *_: Any) -> None:
        if context is None:
            assert cursor is None
            on_driver.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with db.reading() as session:
            through_driver = await read(session)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    return through_sqlalchemy, through_driver, on_driver


def _typed(value: Any) -> Any:
    """`value` with the type of every value inside it, so `1 == 1.0 == Decimal(1)` don't pass for equal."""
    if isinstance(value, tuple | list):
        return type(value).__name__, [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return type(value).__name__, {k: _typed(getattr(value, k)) for k in value.__dataclass_fields__}
    return type(value).__name__, value


async def test_a_dashboard_history_and_list_read_on_the_driver_are_what_sqlalchemy_reads(
    rt, is_postgres
) -> None:
    acme = await seed_account(rt)
    today = TEST_NOW.date()
    async with rt.db.session() as session:
        manager = await users.by_slack_id(session, MANAGER)

    async def show(session: Any) -> Any:
        found = await clients.find(session, acme.client_code, viewer=manager, entity=False)
        return found, await dashboard.build(
            session, actor=manager, client=found, today=today, thresholds=health.Thresholds()
        )

    async def history(session: Any) -> Any:
        found = await clients.find(session, acme.client_code, viewer=manager, details=False, entity=False)
        filters = communications.HistoryFilter(date_from=today - timedelta(days=400))
        return await communications.history(session, actor=manager, client=found, filters=filters)

    async def listing(session: Any) -> Any:
        filters = clients.ClientFilter(status=ClientStatus.ACTIVE)
        return await clients.list_clients(
            session,
            filters=filters,
            viewer=manager,
            summaries=True,
            health_on=today,
            thresholds=health.Thresholds(),
        )

    for read, statements in ((show, 5), (history, 2), (listing, 1)):
        through_sqlalchemy, through_driver, on_driver = await _both_ways(rt.db, read)
        assert _typed(through_driver) == _typed(through_sqlalchemy), read.__name__
        # PostgreSQL runs them on the driver; SQLite has no such path and runs them all through SQLAlchemy.
        assert len(on_driver) == (statements if is_postgres else 0), (read.__name__, on_driver)
    _, board = (await _both_ways(rt.db, show))[1]
    assert (
        board.stats.placements == 2 and board.stats.revenue == 12000 and board.timeline and board.follow_ups
    ), board


async def test_a_driver_read_fails_as_sqlalchemy_does_and_the_session_goes_on(rt, is_postgres) -> None:
    if not is_postgres:
        pytest.skip("the driver path is PostgreSQL's")
    acme = await seed_account(rt)
    query = dashboard._hires_query()
    async with rt.db.reading() as session:
        with pytest.raises(KeyError):  # a required value missing, as SQLAlchemy refuses it
            await read_rows(session, query, {"client_id": acme.id})
        with pytest.raises(DBAPIError) as refused:  # the driver's refusal, as SQLAlchemy's error
            await read_rows(session, query, {"client_id": "not a uuid", "since": TEST_NOW})
        assert not refused.value.connection_invalidated
        rows = await read_rows(
            session, query, {"client_id": acme.id, "since": TEST_NOW - timedelta(days=400)}
        )
        assert sum(row.count_1 for row in rows) == 2
        assert await session.get(User, (await users.by_slack_id(session, MANAGER)).id)


async def test_a_connection_lost_under_a_driver_read_is_dropped_from_the_pool(rt, is_postgres) -> None:
    if not is_postgres:
        pytest.skip("the driver path is PostgreSQL's")
    acme = await seed_account(rt)
    values = {"client_id": acme.id, "since": TEST_NOW - timedelta(days=400)}
    async with rt.db.reading() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        async with rt.db.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as lost:
            await read_rows(session, dashboard._hires_query(), values)
        assert lost.value.connection_invalidated  # what the replies tell an outage from a bug by
    async with rt.db.reading() as session:  # a new connection, not the dead one
        assert await session.scalar(text("SELECT pg_backend_pid()")) != pid
        assert sum(row.count_1 for row in await read_rows(session, dashboard._hires_query(), values)) == 2
