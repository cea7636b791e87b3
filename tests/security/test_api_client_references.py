"""Issue 11 item 14, the API parts. Attacks: a sloppy integration names a client by a fuzzy name in a body
(`POST /api/jobs {"client_id": "pharma"}`), which linked the job to whichever client matched while
`GET /api/clients/pharma` is 404; and the database connection of a request is killed mid-request
(pg_terminate_backend from another connection, as a failover or an operator would), which gave a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from bot.models import Job, Role
from bot.services import api_tokens
from tests import factories


@pytest.fixture
def slack_api_url() -> str:
    return "http://127.0.0.1:9/api/"  # the API never calls Slack


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, headers=headers, json=body) as reply:
        return reply.status, await reply.json()


async def manager_token(rt) -> tuple[str, Any]:
    async with rt.db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        pharma = await factories.client(session, manager, "Pharma Holdings")
        token, _ = await api_tokens.create(session, name="ATS", role=Role.MANAGER)
    return token, pharma


async def test_a_fuzzy_client_name_in_a_body_is_422_like_the_path_is_404(app_url, http, rt) -> None:
    token, pharma = await manager_token(rt)
    assert (await call(http, "GET", f"{app_url}/api/clients/pharma", token))[0] == 404

    status, body = await call(
        http, "POST", f"{app_url}/api/jobs", token, {"title": "QA", "client_id": "pharma"}
    )
    assert status == 422 and body["error"]["code"] == "validation_failed", body
    assert "client_id" in body["error"]["fields"]
    # The upsert path (a job with this reference exists) follows the same rule, and writes nothing.
    status, _ = await call(http, "POST", f"{app_url}/api/jobs", token, {"reference": "ATS-9", "title": "QA"})
    assert status == 201
    status, body = await call(
        http,
        "POST",
        f"{app_url}/api/jobs",
        token,
        {"reference": "ATS-9", "title": "QA 2", "client_id": "Pharma"},
    )
    assert status == 422 and "client_id" in body["error"]["fields"], body
    async with rt.db.session() as session:
        jobs = list(await session.execute(select(Job.reference, Job.title, Job.client_id)))
    assert [tuple(j) for j in jobs] == [("ATS-9", "QA", None)]

    # The UUID and the exact code (any case) still work.
    for reference in (pharma.client_code.lower(), str(pharma.id)):
        status, job = await call(
            http, "POST", f"{app_url}/api/jobs", token, {"title": "Dev", "client_id": reference}
        )
        assert status == 201 and job["client_id"] == str(pharma.id), job


async def test_a_connection_killed_mid_request_is_503_database_unavailable(
    app_url, http, rt, is_postgres
) -> None:
    if not is_postgres:
        pytest.skip("pg_terminate_backend: a server-side kill of one connection exists on PostgreSQL only")
    token, _pharma = await manager_token(rt)
    async with rt.db.engine.connect() as blocker, rt.db.engine.connect() as operator:
        # Hold the clients table so the request's query waits inside the database, then kill that backend.
        await blocker.execute(text("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE"))
        request = asyncio.create_task(call(http, "GET", f"{app_url}/api/clients", token))
        victim = None
        for _ in range(200):
            victim = await operator.scalar(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            await operator.rollback()  # pg_stat_activity is a snapshot per transaction: take a new one
            if victim is not None:
                break
            await asyncio.sleep(0.05)
        assert victim is not None, "the request never reached the database"
        assert await operator.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        status, body = await asyncio.wait_for(request, 30)
        await blocker.rollback()
    assert status == 503 and body["error"]["code"] == "database_unavailable", body
    # The pool dropped the dead connection: the next request is served.
    assert (await call(http, "GET", f"{app_url}/api/clients", token))[0] == 200
