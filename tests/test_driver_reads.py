"""Statements built once and read in autocommit run on asyncpg itself (`bot.db.read_rows`, issue 14): what a
reader gets that way must be what SQLAlchemy's own execution gives, value for value and type for type."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from bot.db import Database, built_once, read_rows
from bot.models import Client, ClientStatus, User
from bot.services import clients, communications, dashboard, health, users
from tests.conftest import GUEST, MANAGER, TEST_NOW
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


@built_once
def _backend_query() -> Any:
    return select(func.pg_backend_pid().label("pid"))


async def test_a_reading_session_reads_on_one_pooled_connection_of_its_own_and_returns_it(
    rt, is_postgres
) -> None:
    """A reading session that holds no connection of SQLAlchemy's checks one driver connection out for its
    reads, keeps it for the session (one checkout for a card's five statements), and returns it at the end;
    lost under a read, it is dropped from the pool and the session's next read checks out another."""
    if not is_postgres:
        pytest.skip("the driver path is PostgreSQL's")
    pool = rt.db.engine.sync_engine.pool
    async with rt.db.reading() as session:
        (first,) = await read_rows(session, _backend_query())
        (again,) = await read_rows(session, _backend_query())
        assert again.pid == first.pid and pool.checkedout() == 1 and not session.in_transaction()
        async with rt.db.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.pid})
        with pytest.raises(DBAPIError) as lost:
            await read_rows(session, _backend_query())
        assert lost.value.connection_invalidated and pool.checkedout() == 0
        (renewed,) = await read_rows(session, _backend_query())
        assert renewed.pid != first.pid
    assert pool.checkedout() == 0


@contextlib.contextmanager
def _unreturned() -> Iterator[list[Any]]:
    """The connections dropped unreturned while the block runs, filled in once it ends: the garbage
    collector terminates such a connection, and SQLAlchemy warns."""
    dropped: list[Any] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield dropped
        gc.collect()
    dropped += [w for w in caught if "non-checked-in connection" in str(w.message)]


async def _returned(pool: Any) -> int:
    """Connections still checked out once the listener is done (its session closes after its reply), or
    dropped unreturned."""
    with _unreturned() as dropped:
        for _ in range(100):
            if pool.checkedout() == 0:
                break
            await asyncio.sleep(0.02)
    return pool.checkedout() + len(dropped)


async def test_slack_requests_leave_no_connection_checked_out(slack, fake, rt) -> None:
    """The delivery's connection (kept for the listener's reads on PostgreSQL) and the listener's go back to
    the pool however the listener ends: it read, wrote, refused before or after reading, or never ran."""
    acme = await seed_account(rt)
    pool = rt.db.engine.sync_engine.pool
    code = acme.client_code
    reading = ("list", f"show {code}", f"history {code}", "list nothing-matches", "help")
    for user, words in [(MANAGER, w) for w in reading] + [
        (MANAGER, "status"),  # refused before the listener reads anything
        (MANAGER, f"status {code} on-hold"),  # a unit of work
        (GUEST, "list"),  # refused once the user is known
    ]:
        with _unreturned() as dropped:
            await slack.command(words, user_id=user)
            assert (await fake.wait_for_response(slack.last_response_url))["blocks"], words
        assert not dropped, words
        assert await _returned(pool) == 0, words
    await slack.retry_last()  # a redelivery: the listener stops at its ack
    assert await _returned(pool) == 0
    async with rt.db.session() as session:
        assert (await session.get(Client, acme.id)).status == ClientStatus.ON_HOLD.value
