"""Channels as Slack has them: a channel the bot is not in (`not_in_channel`), a deleted or hidden one
(`channel_not_found`), an archived one (`is_archived`). A digest or summary that cannot be posted is
reported once to the HR Admins with the fix, is not retried on every run, and goes out again as soon as
the bot is invited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.models import Role, ScheduledRun
from bot.scheduler import run_job
from bot.services import feedback
from tests import factories
from tests.conftest import ADMIN, MANAGER
from tests.slack_fake import FakeSlack
from tests.test_feedback import RATINGS

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # ISO week 2026-W49
SECOND_ADMIN = "UADMIN2"


@pytest.fixture
def settings(settings):
    settings.digest_channel = "CDIGEST"
    return settings


def _posts(fake: FakeSlack, channel: str) -> list[dict]:
    return [c.params for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def _admin_notices(fake: FakeSlack) -> list[str]:
    """What the HR Admins were told by DM (conversations.open gives a D… channel)."""
    return [
        json.dumps(c.params)
        for c in fake.calls_to("chat.postMessage")
        if str(c.params.get("channel", "")).startswith("D")
    ]


async def _admins(rt, fake: FakeSlack) -> None:
    fake.add_user(SECOND_ADMIN, "second admin")  # Slack knows them (conversations.open needs it)
    async with rt.db.session() as session:
        await factories.user(session, ADMIN, Role.ADMIN)  # in CLIENTBOT_ADMINS too: told once, not twice
        await factories.user(session, SECOND_ADMIN, Role.ADMIN)
        await factories.user(session, MANAGER, Role.MANAGER)  # not an admin: not told


async def test_digest_to_a_channel_without_the_bot_is_reported_once_and_resumes_once_invited(
    fake, rt
) -> None:
    await _admins(rt, fake)
    fake.add_channel("CDIGEST", "hr-digest", member=False)

    result = await run_job(rt, "weekly_digest", MONDAY)
    assert result == "digest for 2026-W49 not posted: not_in_channel in CDIGEST; the HR Admins were told"
    assert len(_posts(fake, "CDIGEST")) == 1  # tried once; the chart was not even uploaded
    assert fake.calls_to("files.completeUploadExternal") == []
    notices = _admin_notices(fake)
    assert len(notices) == 2  # UADMIN and UADMIN2, not the manager
    assert {c.params["users"] for c in fake.calls_to("conversations.open")} == {ADMIN, SECOND_ADMIN}
    assert "/invite @clientbot" in notices[0] and "<#CDIGEST>" in notices[0] and "2026-W49" in notices[0]

    # A restart or `clientbot jobs run` the same week neither posts nor tells anyone again.
    fake.calls.clear()
    assert "already sent" in await run_job(rt, "weekly_digest", MONDAY + timedelta(hours=2))
    assert fake.calls_to("chat.postMessage") == []

    # Next week, still not invited: one attempt, no second notice.
    fake.calls.clear()
    assert "not_in_channel" in await run_job(rt, "weekly_digest", MONDAY + timedelta(days=7))
    assert len(_posts(fake, "CDIGEST")) == 1 and _admin_notices(fake) == []

    # An admin types /invite @clientbot: the next run delivers the digest (no hires: no chart).
    fake.invite_bot("CDIGEST")
    fake.calls.clear()
    assert await run_job(rt, "weekly_digest", MONDAY + timedelta(days=14)) == "digest for 2026-W51: 0 hire(s)"
    assert len(_posts(fake, "CDIGEST")) == 1 and _admin_notices(fake) == []
    assert fake.uploaded_files() == []

    # Removed from the channel again later: that is news, the admins hear about it again.
    fake.add_channel("CDIGEST", "hr-digest", member=False)
    fake.calls.clear()
    assert "not_in_channel" in await run_job(rt, "weekly_digest", MONDAY + timedelta(days=21))
    assert len(_admin_notices(fake)) == 2


@pytest.mark.parametrize(
    ("make", "error", "fix"),
    [
        (lambda f: f.delete_channel("CDIGEST"), "channel_not_found", "CLIENTBOT_DIGEST_CHANNEL"),
        (lambda f: f.add_channel("CDIGEST", private=True, member=False), "channel_not_found", "/invite"),
        (lambda f: f.add_channel("CDIGEST", archived=True), "is_archived", "Unarchive"),
    ],
    ids=["deleted", "private-without-the-bot", "archived"],
)
async def test_a_digest_channel_slack_refuses_is_reported_with_its_fix(fake, rt, make, error, fix) -> None:
    await _admins(rt, fake)
    make(fake)
    assert f"not posted: {error}" in await run_job(rt, "weekly_digest", MONDAY)
    notices = _admin_notices(fake)
    assert len(notices) == 2 and fix in notices[0] and error in notices[0]
    async with rt.db.session() as session:
        run = await session.scalar(
            select(ScheduledRun).where(
                ScheduledRun.job == "weekly_digest", ScheduledRun.period_key == "2026-W49"
            )
        )
    assert run.finished_at is not None  # settled: not retried on every start


async def test_feedback_summary_to_a_channel_without_the_bot_still_reminds_managers(fake, rt) -> None:
    """The quarterly reminders are DMs and go out; the summary for the digest channel is reported."""
    await _admins(rt, fake)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.client(session, manager, "Acme", account_manager_id=MANAGER, website=None)
    fake.add_channel("CDIGEST", member=False)
    first_day = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # the first working day of 2026-Q4
    result = await run_job(rt, "quarterly_feedback_reminder", first_day)
    assert result == "reminded 1 manager(s) about 1 client(s) for 2026-Q3"
    notices = _admin_notices(fake)
    told = [n for n in notices if "not posted" in n]
    assert len(notices) == 3 and len(told) == 2  # the manager's reminder, and each admin told once
    assert "feedback reminder summary for 2026-Q3" in told[0] and "/invite @clientbot" in told[0]
    fake.calls.clear()
    assert "already sent" in await run_job(rt, "quarterly_feedback_reminder", first_day + timedelta(hours=3))
    assert fake.calls_to("chat.postMessage") == []


async def test_a_report_asked_for_in_a_channel_without_the_bot_goes_to_the_requester(slack, fake, rt) -> None:
    """files.completeUploadExternal refuses a channel the bot is not in (as Slack does): the chart of
    `/client report` reaches the requester by DM instead."""
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme", account_manager_id=MANAGER, website=None)
        await feedback.submit(
            session,
            actor=manager,
            client_id=acme.id,
            data=feedback.parse_feedback(RATINGS | {"feedback_period": "2026-Q3"}),
        )
    fake.add_channel("CTEAM", "team", member=False)
    await slack.command(f"report {acme.client_code} 2026-Q3", user_id=MANAGER, channel_id="CTEAM")
    await fake.wait_for(
        "files.completeUploadExternal", lambda c: c.params.get("channel_id", "").startswith("D")
    )
    # The chart is as private as the reply: never offered to the channel (issue 12), so nothing is refused.
    assert all(c.params["channel_id"] != "CTEAM" for c in fake.calls_to("files.completeUploadExternal"))
    assert [u.channel_id for u in fake.uploaded_files() if u.channel_id] == ["D" + MANAGER[:10]]
