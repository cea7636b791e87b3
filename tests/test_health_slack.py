"""Client health driven through signed Slack requests and the REST API: `/client hot`, the list's
`sort:health` / `health:` filter, the dashboard line, App Home, the nightly job and the weekly digest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select, update

from bot import clock, render
from bot.models import AuditLog, Client, ClientHealthSnapshot, Role
from bot.scheduler import run_job
from bot.services import api_tokens, clients, health, periods
from tests import health_world
from tests.conftest import MANAGER, RECRUITER

UTC = ZoneInfo("UTC")


@pytest.fixture
async def world(rt) -> health_world.World:
    async with rt.db.session() as session:
        return await health_world.build(session, clock.today(UTC), manager_id=MANAGER)


async def _snapshot(rt) -> None:
    async with rt.db.session() as session:
        await health.snapshot_all(session, clock.today(UTC))


def _rows(listing: dict) -> list[str]:
    return [b["text"]["text"] for b in listing["blocks"] if b.get("accessory")]


async def test_hot_flag_by_signed_command(slack, fake, rt, world) -> None:
    code = world.healthy.client_code
    await slack.command(f"hot {code} on", user_id=MANAGER)
    answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "now flagged *hot*" in answer
    await slack.command(f"hot {code} sideways", user_id=MANAGER)
    assert "Usage" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    async with rt.db.session() as session:
        stored = await clients.get(session, world.healthy.id)
        audit = list(await session.scalars(select(AuditLog).where(AuditLog.action == "client.hot_changed")))
    assert stored.is_hot and len(audit) == 1 and audit[0].entity_id == world.healthy.id
    await slack.command(f"show {code}", user_id=MANAGER)
    board = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert ":fire: hot" in board and "last contact 2 days ago" in board and "*healthy* (100)" in board
    await slack.command(f"hot {code} off", user_id=MANAGER)
    assert "no longer flagged hot" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_dashboard_line_spells_out_the_reasons(slack, fake, rt, world) -> None:
    await slack.command(f"show {world.falling.client_code}", user_id=RECRUITER)
    board = await fake.wait_for_response(slack.last_response_url)
    [line] = [
        e["text"]
        for b in board["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if "at risk" in e.get("text", "")
    ]
    assert line == ":warning: *at risk* (45): feedback 4.5 → 3.0"
    assert "last contact 2 months ago" in json.dumps(board)  # the card's header line says it (70 days)
    await slack.command(f"show {world.gone.client_code}", user_id=RECRUITER)  # inactive: no health line
    gone = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert not any(level in gone for level in ("*healthy*", "*watch*", "*at risk*"))


async def test_list_sorts_and_filters_by_health(slack, fake, rt, world) -> None:
    await _snapshot(rt)
    last_q = periods.last_completed_quarter(clock.today(UTC))
    for hot in (world.falling, world.stalled):  # hot first among equals (both score 45): each in turn
        await slack.command(f"hot {hot.client_code} on", user_id=MANAGER)
        await fake.wait_for_response(slack.last_response_url)
        await slack.command("list sort:health", user_id=RECRUITER)
        rows = _rows(await fake.wait_for_response(slack.last_response_url))
        assert hot.name in rows[0] and ":fire: hot" in rows[0] and "Gone Ltd" in rows[-1]
        await slack.command(f"hot {hot.client_code} off", user_id=MANAGER)
        await fake.wait_for_response(slack.last_response_url)
    await slack.command("list sort:-health", user_id=RECRUITER)
    assert "Healthy Ltd" in _rows(await fake.wait_for_response(slack.last_response_url))[0]
    await slack.command("list sort:health", user_id=RECRUITER)
    rows = _rows(await fake.wait_for_response(slack.last_response_url))
    rows = sorted(rows[:2], key=lambda r: "Falling" not in r) + rows[2:]  # equals: a fixed order
    assert rows[1].endswith(
        "*at risk* (45): on hold, pipeline unmoved for 20 days, no feedback for " + last_q
    )
    assert "*healthy* (100)" in next(r for r in rows if "Healthy Ltd" in r)
    await slack.command("list health:at-risk", user_id=RECRUITER)
    listing = await fake.wait_for_response(slack.last_response_url)
    assert "2 found" in json.dumps(listing)
    assert sorted(r.split("*")[1] for r in _rows(listing)) == ["Falling Ltd", "Stalled Ltd"]
    await slack.command("list health:grim", user_id=RECRUITER)
    assert "not a health level" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command("list sort:mood", user_id=RECRUITER)
    assert "Sort by one of" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_app_home_shows_health_of_the_portfolio(slack, fake, rt, world) -> None:
    async with rt.db.session() as session:
        for record in world.tracked:
            (await session.get(Client, record.id)).account_manager_id = world.manager.id
    await slack.event({"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"})
    home = json.dumps((await fake.wait_for("views.publish")).params["view"])
    assert "*at risk* (45)" in home and "*watch* (75): 1 overdue follow-up" in home


async def test_nightly_job_and_weekly_digest(fake, rt, world) -> None:
    rt.settings.digest_channel = "CDIGEST"
    today = clock.today(UTC)
    midnight = datetime.combine(today, time(0, 10), UTC)
    week_ago = midnight - timedelta(days=7)
    assert "health of 4 clients" in await run_job(rt, "nightly_health", week_ago, since_install=False)
    async with rt.db.session() as session:  # a week ago Stalled was only on watch
        await session.execute(
            update(ClientHealthSnapshot)
            .where(ClientHealthSnapshot.client_id == world.stalled.id)
            .values(level="watch", score=60)
        )
    assert "health of 4 clients" in await run_job(rt, "nightly_health", midnight, since_install=False)
    assert "already taken" in await run_job(rt, "nightly_health", midnight, since_install=False)
    async with rt.db.session() as session:
        days = list(await session.scalars(select(ClientHealthSnapshot.day)))
    assert sorted(set(days)) == [today - timedelta(days=7), today] and len(days) == 8
    assert "digest for" in await run_job(rt, "weekly_digest", midnight + timedelta(hours=9))
    [post] = fake.calls_to("chat.postMessage")
    text = json.dumps(post.params, ensure_ascii=False)
    assert "*At risk this week* · 2" in text and "feedback 4.5 → 3.0" in text
    assert f"*Newly at risk:* {world.stalled.name} ({world.stalled.client_code})" in text


class Api:
    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base, self.http = base, http

    async def get(self, path: str, token: str) -> tuple[int, dict]:
        async with self.http.get(self.base + path, headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json()


@pytest.fixture
async def api(app_url: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(app_url, http)


async def _token(rt, role: Role) -> str:
    async with rt.db.session() as session:
        value, _ = await api_tokens.create(session, name=f"{role.value} health", role=role)
    return value


async def test_api_health_object_and_filter(api, rt, world) -> None:
    await _snapshot(rt)
    token = await _token(rt, Role.RECRUITER)
    status, body = await api.get(f"/api/clients/{world.stalled.client_code}", token)
    assert status == 200
    assert body["health"]["level"] == "at-risk" and body["health"]["score"] == 45
    assert {r["code"] for r in body["health"]["reasons"]} == {
        "on_hold",
        "stale_jobs",
        "pipeline_stalled",
        "feedback_missing",
    }
    status, body = await api.get(f"/api/clients/{world.gone.client_code}", token)
    assert status == 200 and body["health"] is None
    status, body = await api.get("/api/clients?health=at-risk&sort_by=health", token)
    assert status == 200 and body["pagination"]["total"] == 2
    assert sorted(c["name"] for c in body["clients"]) == ["Falling Ltd", "Stalled Ltd"]
    assert all(c["health"]["level"] == "at-risk" for c in body["clients"])
    status, body = await api.get("/api/clients?health=grim", token)
    assert status == 422
    status, doc = await api.get("/api/openapi.json", token)
    assert status == 200 and "HealthOut" in doc["components"]["schemas"]
    parameters = doc["paths"]["/api/clients"]["get"]["parameters"]
    assert any(p["name"] == "health" for p in parameters)


async def test_pdf_report_carries_the_health(rt, world) -> None:
    import io

    from pypdf import PdfReader

    from bot.services import dashboard

    async with rt.db.session() as session:
        board = await dashboard.build(
            session, actor=world.manager, client_id=world.stalled.id, today=clock.today(UTC)
        )
        board.health = await health.of_client(session, board.client, today=clock.today(UTC))
        pdf = await render.build_dashboard_pdf(board, rt.storage)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Health" in text and "at risk (45/100): on hold, pipeline unmoved for 20 days" in " ".join(
        text.split()
    )
