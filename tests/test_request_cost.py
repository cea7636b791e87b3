"""What one Slack request costs the database (issue 14): the statements a signed command or click runs,
counted at the engine, within a budget and none of them run twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import MANAGER, RECRUITER
from tests.test_dashboard import seed_account


async def _statements(rt: Any, send: Callable[[], Awaitable[Any]]) -> list[tuple[str, str]]:
    """(SQL, parameters) of every statement the request runs, up to its reply at Slack."""
    seen: list[tuple[str, str]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, *_: Any) -> None:
        seen.append((statement, repr(parameters)))
        # An IN list given as values is expanded into the statement on every execution (`bot.db.among`).
        # (A statement run on the driver has no execution context: `bot.db.read_rows` runs none that expands.)
        compiled = context.compiled if context is not None else None
        expanded = compiled is not None and (compiled.post_compile_params or compiled.literal_execute_params)
        assert not expanded, f"parameters expanded at each execution: {statement[:200]}"

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await send()
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", count)
    return seen


def _assert_lean(statements: list[tuple[str, str]], budget: int) -> None:
    repeated = [s for s, n in Counter(statements).items() if n > 1]
    assert not repeated, f"the same statement twice: {repeated[0][0][:200]}"
    assert len(statements) <= budget, "\n".join(s[:120] for s, _ in statements)


async def test_show_history_list_and_a_click_stay_within_their_statement_budget(slack, fake, rt) -> None:
    acme = await seed_account(rt)

    async def command(text: str, user: str) -> dict[str, Any]:
        await slack.command(text, user_id=user)
        return await fake.wait_for_response(slack.last_response_url)

    for user in (MANAGER, RECRUITER):  # first sight of each user (users.info, the user row): not counted
        await command(f"show {acme.client_code}", user)

    # The delivery record and its sender's user (after the ack) are part of every budget: two statements
    # on SQLite, one on PostgreSQL (`deliveries.receive`).
    shown: dict[str, Any] = {}

    async def show() -> None:
        shown.update(await command(f"show {acme.client_code}", MANAGER))

    # delivery and user, client with contacts and manager, the card's figures (job analytics with the fill
    # times' mean and median, baseline snapshot and health figures, in one statement), follow-ups,
    # timeline, hires
    _assert_lean(await _statements(rt, show), 7)
    assert "Acme Analytics" in json.dumps(shown) and "12,000.00" in json.dumps(shown)

    async def history() -> None:
        assert "History" in json.dumps(await command(f"history {acme.client_code}", RECRUITER))

    _assert_lean(await _statements(rt, history), 4)  # delivery and user, client, one page with its total

    async def listing() -> None:
        assert acme.client_code in json.dumps(await command("list", RECRUITER))

    # delivery and user, page (total, contact, manager, health figures)
    _assert_lean(await _statements(rt, listing), 3)

    async def click() -> None:
        url = fake.new_response_url()
        await slack.block_action("comm_history_open", value=str(acme.id), user_id=MANAGER, response_url=url)
        assert "History" in json.dumps(await fake.wait_for_response(url))

    _assert_lean(await _statements(rt, click), 4)


async def test_concurrent_requests_reuse_the_pools_connections(slack, fake, rt) -> None:
    """Twenty clicks at once, twice: the second round opens no database connection. (A pool smaller than
    the concurrency closes its overflow connections on return, and each new one costs a connect, its
    prepared statements and its plans again.)"""
    if not rt.db.is_postgres:
        pytest.skip("SQLite keeps SQLAlchemy's default pool (bot/db.py): reopening a file costs little")
    acme = await seed_account(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)  # first sight of the user
    await fake.wait_for_response(slack.last_response_url)

    async def clicks() -> None:
        urls = [fake.new_response_url() for _ in range(20)]
        await asyncio.gather(
            *(
                slack.block_action("comm_history_open", value=str(acme.id), user_id=MANAGER, response_url=url)
                for url in urls
            )
        )
        for url in urls:
            assert "History" in json.dumps(await fake.wait_for_response(url, timeout=15))

    opened: list[object] = []
    listener = lambda *_: opened.append(1)  # noqa: E731
    await clicks()
    event.listen(rt.db.engine.sync_engine, "connect", listener)
    try:
        await clicks()
    finally:
        event.remove(rt.db.engine.sync_engine, "connect", listener)
    assert not opened, f"{len(opened)} connection(s) opened again for the second round"
