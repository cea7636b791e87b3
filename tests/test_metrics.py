"""The agency's success metrics through `/client metrics`, App Home and `GET /api/metrics`, on a fixture
whose every figure is known: 4 active clients (and an inactive one that must not count), finalised
feedback for 2 of them, communications within 30 days for 2, a primary contact and an account manager
for 2; one HR Manager of two active this quarter; report build times recorded by real PDF exports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select, update

from bot import clock
from bot.models import ClientContact, ClientStatus, ReportBuild, Role
from bot.services import clients, communications, feedback, metrics, periods
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER
from tests.test_api import Api, token
from tests.test_feedback import RATINGS


@pytest.fixture
async def api(app_url: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(app_url, http)


async def _log(session, actor, client, days_ago: int) -> None:
    await communications.log(
        session,
        actor=actor,
        client_id=client.id,
        data=communications.parse_communication(
            {
                "communication_type": "call",
                "communication_date": (clock.now() - timedelta(days=days_ago)).isoformat(timespec="minutes"),
                "subject": f"Call {days_ago} days ago",
            }
        ),
    )


async def _feedback(session, actor, client, quarter: str, *, final: bool) -> None:
    await feedback.submit(
        session,
        actor=actor,
        client_id=client.id,
        today=clock.today(clock.now().tzinfo),
        data=feedback.parse_feedback(RATINGS | {"feedback_period": quarter}),
    )
    if final:
        await feedback.finalize(session, actor=actor, client_id=client.id, period=quarter)


async def agency(rt, traveller) -> dict[str, str]:
    """The fixture described in the module docstring; returns the clients' codes by letter."""
    now = clock.now()
    last_quarter = periods.last_completed_quarter(clock.today(rt.settings.tz))
    traveller.move_to(now - timedelta(days=200))  # the clients exist since before last quarter
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.user(session, "UMANAGER2", Role.MANAGER)
        await factories.user(session, RECRUITER, Role.RECRUITER)
        made = {
            "A": await factories.client(session, admin, "Alpha", account_manager_id=MANAGER),
            "B": await factories.client(session, admin, "Beta", account_manager_id=MANAGER),
            "C": await factories.client(session, admin, "Gamma"),
            "D": await factories.client(
                session,
                admin,
                "Delta",
                account_manager_id=MANAGER,
                contacts=[{"full_name": "Pat", "email": "pat@delta.example.com", "is_primary": False}],
            ),
            "E": await factories.client(session, admin, "Epsilon", account_manager_id=MANAGER),
        }
        # Delta's only contact is not its primary one (the form would have made it so; the data may not).
        await session.execute(
            update(ClientContact).where(ClientContact.client_id == made["D"].id).values(is_primary=False)
        )
    traveller.move_to(now)
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await _log(session, manager, made["A"], 5)
        await _log(session, manager, made["B"], 40)
        await _log(session, manager, made["C"], 2)
        await _log(session, manager, made["E"], 1)
        await _feedback(session, admin, made["A"], last_quarter, final=True)
        await _feedback(session, admin, made["B"], last_quarter, final=True)
        await _feedback(session, admin, made["C"], last_quarter, final=False)
        await _feedback(session, admin, made["E"], last_quarter, final=True)
        await clients.change_status(
            session, actor=admin, client_id=made["E"].id, status=ClientStatus.INACTIVE, reason="gone"
        )
    return {k: c.client_code for k, c in made.items()}


async def test_metrics_over_the_api_hold_every_figure(api, rt, clock) -> None:
    await agency(rt, clock)
    status, body = await api.call("GET", "/api/metrics", await token(rt, Role.MANAGER))
    assert status == 200, body
    last_quarter = periods.last_completed_quarter(clock_today(rt))
    assert body["period"] == periods.quarter_of(clock_today(rt))
    completion = body["feedback_completion"]
    assert completion["quarter"] == last_quarter
    assert (completion["numerator"], completion["denominator"], completion["rate"]) == (2, 4, 0.5)
    assert completion["target"] == 0.75 and completion["met"] is False
    logging = body["logging_coverage"]
    assert (logging["numerator"], logging["denominator"], logging["target"]) == (2, 4, 0.8)
    assert (body["centralisation"]["numerator"], body["centralisation"]["denominator"]) == (2, 4)
    assert (body["adoption"]["numerator"], body["adoption"]["denominator"], body["adoption"]["target"]) == (
        1,
        2,
        0.9,
    )
    assert (body["recruiters_active"]["numerator"], body["recruiters_active"]["denominator"]) == (0, 1)
    assert [q["quarter"] for q in body["feedback_by_quarter"]][-1] == last_quarter
    assert len(body["trend"]) == 6 and body["trend"][-1]["logging_coverage"]["numerator"] == 2
    assert body["report_times"]["count"] == 0
    # A month as the period, and a bad one.
    month = f"{clock_today(rt):%Y-%m}"
    status, body = await api.call("GET", f"/api/metrics?period={month}", await token(rt, Role.ADMIN))
    assert status == 200 and body["period"] == month
    status, body = await api.call("GET", "/api/metrics?period=2026-13", await token(rt, Role.ADMIN))
    assert status == 422 and "period" in body["error"]["fields"]


def clock_today(rt):
    return clock.today(rt.settings.tz)


async def test_recruiters_and_guests_do_not_see_the_metrics(api, slack, fake, rt) -> None:
    status, body = await api.call("GET", "/api/metrics", await token(rt, Role.RECRUITER))
    assert status == 403 and "HR Manager" in body["error"]["message"]
    assert (await api.call("GET", "/api/metrics", None))[0] == 401
    await slack.command("metrics", user_id=RECRUITER)
    answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Only an HR Manager" in answer and "Logging coverage" not in answer
    await slack.command("metrics", user_id="UGUEST")
    answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Logging coverage" not in answer


async def test_slash_command_and_app_home_show_the_metrics(slack, fake, rt, clock) -> None:
    await agency(rt, clock)
    await slack.command("metrics", user_id=MANAGER)
    answer = json.dumps(await fake.wait_for_response(slack.last_response_url), ensure_ascii=False)
    assert "Success metrics" in answer and "*50 %* (2/4) :warning: · target 75 %" in answer
    assert "Trend by month" in answer
    await slack.open_home(MANAGER)
    home = json.dumps((await fake.wait_for("views.publish")).params, ensure_ascii=False)
    assert "Agency success metrics" in home and "Logging coverage" in home
    fake.reset()
    await slack.open_home(RECRUITER)
    home = json.dumps((await fake.wait_for("views.publish")).params, ensure_ascii=False)
    assert "Agency success metrics" not in home


async def test_report_builds_are_timed_and_counted(slack, fake, rt, clock) -> None:
    codes = await agency(rt, clock)
    await slack.command(f"export {codes['A']}", user_id=MANAGER)
    await fake.wait_for_response(slack.last_response_url, timeout=30, contains="in your DMs")
    async with rt.db.session() as session:
        [build] = await session.scalars(select(ReportBuild))
        assert build.kind == "dashboard" and build.duration_ms > 0
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        figures = await metrics.build(session, actor=manager, period=None, tz=rt.settings.tz)
    assert figures.report_times.count == 1 and figures.report_times.by_kind == {"dashboard": 1}
    assert figures.report_times.p95_ms == build.duration_ms


def test_percentiles_and_rates() -> None:
    times = metrics.ReportTimes.of([("dashboard", ms) for ms in range(1, 101)])
    assert (times.count, times.p50_ms, times.p95_ms, times.mean_ms) == (100, 50, 95, 50)
    assert metrics.Rate(0, 0, 0.8).value is None and metrics.Rate(0, 0, 0.8).met is None
    assert metrics.Rate(4, 5, 0.8).met is True
