"""Client health against hostile callers: the hot flag is for managers only (recruiters and Slack guests,
even a guest holding the manager role, are refused with nothing written); an unsigned `/client hot` does
nothing; the health of clients a caller may not see (archived ones for recruiters, all for guests) leaks
through neither the list's health sort and filter nor the API; names in the digest are escaped."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from bot import clock
from bot.models import AuditLog, Client, ClientStatus, Role
from bot.services import api_tokens, health
from tests import factories, health_world
from tests.conftest import MANAGER, RECRUITER
from tests.security.test_unsigned_requests import assert_nothing_happened, post, row_counts
from views import health as health_views

pytestmark = pytest.mark.asyncio
UTC = ZoneInfo("UTC")


@pytest.fixture
async def world(rt) -> health_world.World:
    async with rt.db.session() as session:
        built = await health_world.build(session, clock.today(UTC), manager_id=MANAGER)
        (await session.get(Client, built.falling.id)).status = ClientStatus.ARCHIVED.value
    async with rt.db.session() as session:
        # Archived today, at risk in last night's snapshot: recruiters must not learn either.
        await session.execute(
            health.ClientHealthSnapshot.__table__.insert().values(
                id=uuid.uuid4(),
                client_id=built.falling.id,
                day=clock.today(UTC),
                score=10,
                level="at-risk",
                reasons=[{"code": "no_contact", "text": "secret reason", "penalty": 90}],
                created_at=clock.now(),
            )
        )
        await health.snapshot_all(session, clock.today(UTC))
    return built


async def _hot_entries(rt) -> list[AuditLog]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == "client.hot_changed")))


async def test_recruiters_and_guests_cannot_set_hot(slack, fake, rt, world) -> None:
    fake.add_user("UGUESTMGR", "guest manager", guest=True)
    async with rt.db.session() as session:
        await factories.user(session, "UGUESTMGR", Role.MANAGER)
    for user in (RECRUITER, "UGUESTMGR"):
        await slack.command(f"hot {world.healthy.client_code} on", user_id=user)
        answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
        assert "flagged" not in answer and ("Only" in answer or "guest" in answer), answer
    async with rt.db.session() as session:
        assert not (await session.get(Client, world.healthy.id)).is_hot
    assert await _hot_entries(rt) == []


async def test_unsigned_hot_command_does_nothing(app_url, fake, rt, world) -> None:
    before = await row_counts(rt)
    body = urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C1",
            "user_id": MANAGER,
            "command": "/client",
            "text": f"hot {world.healthy.client_code} on",
            "response_url": fake.new_response_url(),
            "trigger_id": "1.2.abc",
        }
    )
    fake.responses.clear()
    status = await post(app_url, body.encode(), [("Content-Type", "application/x-www-form-urlencoded")])
    assert status == 401
    await assert_nothing_happened(fake, rt, before)


async def test_invisible_clients_stay_out_of_health_lists(slack, fake, rt, world) -> None:
    for query in ("list sort:health", "list health:at-risk"):
        await slack.command(query, user_id=RECRUITER)
        listing = json.dumps(await fake.wait_for_response(slack.last_response_url))
        assert "Falling" not in listing and "secret reason" not in listing, query
    await slack.command("list health:at-risk", user_id=MANAGER)  # managers see archived clients
    assert "Falling" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    fake.add_user("UGUESTMGR", "guest manager", guest=True)
    await slack.command("list sort:health", user_id="UGUESTMGR")
    guest = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Ltd" not in guest and "at risk" not in guest


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_api_does_not_leak_health_of_invisible_clients(app_url, http, rt, world) -> None:
    async with rt.db.session() as session:
        token, _ = await api_tokens.create(session, name="recruiter", role=Role.RECRUITER)
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{app_url}/api/clients?health=at-risk", headers=headers) as response:
        body = await response.json()
    assert response.status == 200 and "Falling" not in json.dumps(body) and "secret" not in json.dumps(body)
    assert body["pagination"]["total"] == 1  # Stalled only
    async with http.get(f"{app_url}/api/clients/{world.falling.client_code}", headers=headers) as response:
        body = await response.json()
    assert response.status in (403, 404) and "health" not in body
    async with http.get(f"{app_url}/api/clients?sort_by=health", headers=headers) as response:
        body = await response.json()
    assert "Falling" not in json.dumps(body)


async def test_digest_escapes_client_names() -> None:
    report = health.RiskReport(
        day=clock.today(UTC), at_risk=[("CLT-1", "<!channel> *Evil* <https://x|y>", ["on hold"])], total=1
    )
    text = json.dumps(health_views.digest_blocks(report, private=True))
    assert "<!channel>" not in text and "<https://x|y>" not in text
    shared = json.dumps(health_views.digest_blocks(report, private=False))
    assert "on hold" not in shared  # the reasons (feedback scores) stay out of shared channels
