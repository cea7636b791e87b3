"""Issue 11 item 11, rights that could not be taken back: an API token leaked or no longer needed, and a
user removed from CLIENTBOT_ADMINS. Attacks: keep using a token after the operator revoked it, or after its
expiry; keep acting as admin after being taken off the list (the app restarted with the new list)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import clock as app_clock
from bot.models import ApiToken, AuditLog, Role, User
from bot.services import users
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import ADMIN, RECRUITER


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as reply:
        return reply.status, await reply.json()


def clientbot(database_url: str, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """The real command line, in its own process, on the test's clock and database."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLIENTBOT_"))}
    return subprocess.run(
        cli_argv(*args),
        env=cli_env(base | {"DATABASE_URL": database_url, "CLIENTBOT_ADMINS": ADMIN} | env),
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


async def test_a_revoked_token_gets_401_token_revoked(app_url, database_url, http, rt) -> None:
    token = clientbot(database_url, "api-token", "create", "--role", "manager", "--name", "Old ATS").stdout
    token = token.strip()
    assert (await get(http, f"{app_url}/api/clients", token))[0] == 200

    listed = clientbot(database_url, "api-token", "list").stdout
    async with rt.db.session() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.name == "Old ATS"))
    line = next(line for line in listed.splitlines() if "Old ATS" in line)
    assert line.startswith(row.id.hex[:8]) and "manager" in line and "never" in line  # no expiry
    assert token not in listed and row.token_hash not in listed and token[4:12] not in listed

    revoked = clientbot(database_url, "api-token", "revoke", row.id.hex[:8]).stdout
    assert "revoked" in revoked and "Old ATS" in revoked
    status, body = await get(http, f"{app_url}/api/clients", token)
    assert status == 401 and body["error"]["code"] == "token_revoked", body
    assert "revoked" in body["error"]["message"]
    status, body = await get(http, f"{app_url}/api/clients/CLT-2026-0001", token)
    assert (status, body["error"]["code"]) == (401, "token_revoked")

    async with rt.db.session() as session:
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "api_token.revoked"))
        operator = await session.get(User, entry.actor_id)
    assert entry.entity_id == row.id and operator.slack_user_id == "cli:operator"
    assert "revoked" in clientbot(database_url, "api-token", "list").stdout.split("Old ATS", 1)[1]
    # Revoking by name works too, and says when it was already done.
    assert "already revoked" in clientbot(database_url, "api-token", "revoke", "Old ATS").stdout
    missing = clientbot(database_url, "api-token", "revoke", "no-such-token", check=False)
    assert missing.returncode == 2 and "No API token" in missing.stderr


async def test_an_expired_token_gets_401_token_expired(app_url, database_url, http, clock) -> None:
    started = app_clock.now()
    made = clientbot(
        database_url, "api-token", "create", "--role", "recruiter", "--name", "Temp", "--expires-in", "1d"
    )
    token = made.stdout.strip()
    assert token.startswith("cbt_") and "expires" in made.stderr
    day = (started + timedelta(days=3)).date().isoformat()
    dated = clientbot(
        database_url, "api-token", "create", "--role", "recruiter", "--name", "Dated", "--expires", day
    )
    dated_token = dated.stdout.strip()
    assert (await get(http, f"{app_url}/api/clients", token))[0] == 200
    assert (await get(http, f"{app_url}/api/clients", dated_token))[0] == 200

    clock.move_to(started + timedelta(days=1, minutes=1))
    status, body = await get(http, f"{app_url}/api/clients", token)
    assert status == 401 and body["error"]["code"] == "token_expired", body
    assert (await get(http, f"{app_url}/api/clients", dated_token))[0] == 200
    listed = clientbot(database_url, "api-token", "list").stdout
    assert "expired" in next(line for line in listed.splitlines() if "Temp" in line)

    clock.move_to(started + timedelta(days=4))
    status, body = await get(http, f"{app_url}/api/clients", dated_token)
    assert (status, body["error"]["code"]) == (401, "token_expired")

    refused = clientbot(
        database_url,
        "api-token",
        "create",
        "--role",
        "admin",
        "--name",
        "x",
        "--expires",
        "2000-01-01",
        check=False,
    )
    assert refused.returncode == 2 and refused.stdout == "" and "future" in refused.stderr


async def test_a_user_taken_off_clientbot_admins_is_demoted_at_start(slack, fake, rt, database_url) -> None:
    """UBOSS was an HR Manager, then listed as admin; UNEW was first seen while listed; UCHOSEN was made
    admin by an admin with /client role. The list is then emptied and the app restarted (`migrate`)."""
    for slack_id in ("UBOSS", "UNEW", "UCHOSEN"):
        fake.add_user(slack_id, slack_id.lower())
    async with rt.db.session() as session:
        boss = await factories.user(session, "UBOSS", Role.MANAGER)
        await users.resolve(session, slack_user_id="UNEW", admins={"UNEW"})
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        await factories.user(session, "UCHOSEN", Role.RECRUITER)
        await users.set_role(session, actor=admin, target_slack_id="UCHOSEN", role=Role.ADMIN, admins={ADMIN})

    clientbot(database_url, "migrate", CLIENTBOT_ADMINS=f"{ADMIN},UBOSS,UNEW")
    async with rt.db.session() as session:
        assert (await session.get(User, boss.id)).role == "admin"

    restarted = clientbot(database_url, "migrate", CLIENTBOT_ADMINS=ADMIN)
    assert "UBOSS" in restarted.stderr and "UNEW" in restarted.stderr  # the operator sees who lost admin
    async with rt.db.session() as session:
        roles = dict((await session.execute(select(User.slack_user_id, User.role))).all())
        entries = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.action == "user.admin_revoked").order_by(AuditLog.created_at)
            )
        )
    assert roles["UBOSS"] == "manager" and roles["UNEW"] == "recruiter"  # the role before, or the default
    assert roles["UCHOSEN"] == "admin" and roles[ADMIN] == "admin"  # an admin's choice; still listed
    assert sorted((e.before["role"], e.after["role"]) for e in entries) == [
        ("admin", "manager"),
        ("admin", "recruiter"),
    ]
    assert all(e.after["by"] == "CLIENTBOT_ADMINS" for e in entries)

    # The demoted manager can no longer do what only an HR Admin may.
    await slack.command(f"role <@{RECRUITER}|rita> admin", user_id="UBOSS")
    denied = await fake.wait_for_response(slack.last_response_url)
    assert "Only an HR Admin" in json.dumps(denied)
    async with rt.db.session() as session:
        assert await session.scalar(select(User.role).where(User.slack_user_id == RECRUITER)) != "admin"
