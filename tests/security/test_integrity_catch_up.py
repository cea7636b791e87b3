"""Issue 11 item 17: a first start on a new database (or one just filled by `clientbot demo` or an import)
catches up on nothing from before the install: no digest of the week before, no quarterly reminder, no
follow-up nudges from before it existed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.db import Database, migrate
from bot.scheduler import run_job
from bot.services import app_state
from tests.test_scheduler import _a_busy_week, _managed_clients, _run_schedulers

INSTALL = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday, two days into a week after a busy one


@pytest.fixture
def settings(settings):
    settings.digest_channel = "CDIGEST"
    return settings


async def test_a_first_start_catches_up_on_nothing_from_before_the_install(fake, rt, clock) -> None:
    """The database is new: its first start (the `clientbot serve` scheduler, as in production) comes
    after a week of activity and with managers whose clients have no feedback for 2026-Q3, as after
    `clientbot demo` or an import. On main the start posted the weekly digest for the week before the
    install (its catch-up reaches back 7 days), DM'd each manager the Q3 feedback reminder (92 days) and
    the overdue follow-up nudge of that morning (12 hours)."""
    clock.move_to(INSTALL)
    await _a_busy_week(rt)
    await _managed_clients(rt)
    await _run_schedulers([rt])
    assert fake.calls_to("chat.postMessage") == []
    assert fake.uploaded_files() == []
    # What falls due after the install goes out as usual: next Monday's digest.
    clock.move_to(INSTALL + timedelta(days=5, hours=-1))  # Monday 7 December, 09:00
    assert "digest for 2026-W50" in await run_job(rt, "weekly_digest")
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == ["CDIGEST"]


async def test_the_first_migrate_records_the_install_instant(tmp_path, clock) -> None:
    """`clientbot serve`, `migrate`, `demo` and `import` all migrate first: the first of them on a new
    database records the instant; later ones leave it."""
    clock.move_to(INSTALL)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        await migrate(db)
        clock.move_to(INSTALL + timedelta(days=40))
        await migrate(db)
        async with db.session() as session:
            installed = await app_state.installed_at(session)
    finally:
        await db.dispose()
    assert INSTALL <= installed < INSTALL + timedelta(minutes=1)
