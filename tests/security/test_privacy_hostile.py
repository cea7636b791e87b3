"""Personal-data requests under attack (issue 13 part 4). Attacks: an address written to act as SQL or as a
LIKE pattern (`zelda_quist@…` matching `zelda.quist@…`, `%@…` matching everyone); a caller adding a field
that would name a redaction request (`clientbot.redaction`) or smuggling `set_config` into the reason;
a lower token, a forged one or none at all; erasing an unknown person, or the same person twice; and, on a
hardened PostgreSQL, the app's own role deleting the record of a request or redacting outside one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot import clock as app_clock
from bot.models import AuditLog, ClientCommunication, PrivacyRequest, Role
from bot.services import api_tokens, privacy
from tests import factories
from tests.privacy_data import EMAIL, NAME, communications_at_rest, holding, person, texts
from tests.security.test_integrity_immutability import _refused, hardened


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _token(rt, role: Role) -> str:
    async with rt.db.session() as session:
        value, _ = await api_tokens.create(session, name=f"{role.value} integration", role=role)
    return value


async def _post(http, url: str, token: str | None, body: Any) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as reply:
        return reply.status, await reply.json()


async def _requests(rt) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(PrivacyRequest)) or 0


async def _unchanged(rt, before: dict) -> None:
    assert await communications_at_rest(rt.db) == before
    async with rt.db.session() as session:
        assert list(await session.scalars(select(ClientCommunication.redacted_at).distinct())) == [None]
    assert holding(await texts(rt.db), EMAIL) and holding(await texts(rt.db), NAME)


PATTERNS = [
    EMAIL.replace(".", "_", 1),  # `_` is LIKE's any-character
    "%@acme-corp.example.com",  # `%` is LIKE's anything
    "zelda%quist@acme-corp.example.com",
    "zelda'or'1'='1@acme-corp.example.com",
    "zelda.quis_@acme-corp.example.com",
]
NOT_EMAILS = [
    f"{EMAIL}'; DELETE FROM client_communications; --",
    f"{EMAIL}\x00",
    "%",
    "' OR 1=1 --",
    "x' OR '1'='1@acme-corp.example.com",
    "a" * 300 + "@example.com",
    ["zelda.quist@acme-corp.example.com"],
    {"$ne": None},
    None,
]


async def test_addresses_are_data_never_sql_or_patterns(rt, app_url, http) -> None:
    await person(rt.db)
    before = await communications_at_rest(rt.db)
    admin = await _token(rt, Role.ADMIN)
    for email in PATTERNS:
        status, body = await _post(http, f"{app_url}/api/privacy/export", admin, {"email": email})
        assert status == 200 and body["counts"]["communications"] == 0 and body["contacts"] == [], (
            email,
            body,
        )
        status, body = await _post(
            http, f"{app_url}/api/privacy/erase", admin, {"email": email, "reason": "x42"}
        )
        assert status == 200 and not body["found"], (email, body)
    await _unchanged(rt, before)
    recorded = await _requests(rt)
    for email in NOT_EMAILS:
        for path in ("export", "erase"):
            status, body = await _post(
                http, f"{app_url}/api/privacy/{path}", admin, {"email": email, "reason": "x42"}
            )
            assert status == 422 and "email" in body["error"]["fields"], (email, body)
    assert await _requests(rt) == recorded  # refused before anything was written
    await _unchanged(rt, before)


async def test_no_field_can_name_a_redaction(rt, app_url, http) -> None:
    """Only `email` (and `reason`) reach the service; a field naming the setting or a request is refused,
    and a reason is stored as text, never run."""
    cast = await person(rt.db)
    before = await communications_at_rest(rt.db)
    admin = await _token(rt, Role.ADMIN)
    forged = str(uuid.uuid4())
    for extra in (
        {"redaction": forged},
        {"clientbot.redaction": forged},
        {"request_id": forged},
        {"redacted_by": "UADMIN"},
    ):
        for path in ("export", "erase"):
            body = {"email": "nobody@example.org", "reason": "x42"} if path == "erase" else {"email": EMAIL}
            status, reply = await _post(http, f"{app_url}/api/privacy/{path}", admin, body | extra)
            assert status == 422 and set(reply["error"]["fields"]) == set(extra), reply
    assert await _requests(rt) == 0
    reason = f"'); SELECT set_config('clientbot.redaction', '{forged}', false); --"
    status, reply = await _post(
        http, f"{app_url}/api/privacy/erase", admin, {"email": "nobody@example.org", "reason": reason}
    )
    assert status == 200 and not reply["found"]
    async with rt.db.session() as session:
        assert await session.scalar(select(PrivacyRequest.reason)) == reason
    # No connection of the pool was left permitting a redaction.
    for _ in range(3):
        with pytest.raises(DBAPIError, match="immutable"):
            async with rt.db.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE client_communications SET notes = 'rewritten' WHERE id = :id"),
                    {"id": str(cast.untouched.id) if rt.db.is_postgres else cast.untouched.id.hex},
                )
    await _unchanged(rt, before)


async def test_lower_forged_or_missing_tokens_are_refused_before_anything(rt, app_url, http) -> None:
    await person(rt.db)
    before = await communications_at_rest(rt.db)
    tokens = [await _token(rt, Role.MANAGER), await _token(rt, Role.RECRUITER), "cbt_forged", None]
    for token in tokens:
        for path in ("export", "erase"):
            status, body = await _post(
                http, f"{app_url}/api/privacy/{path}", token, {"email": EMAIL, "reason": "x42", "junk": 1}
            )
            assert status in (401, 403) and body["error"]["code"] in ("forbidden", "unauthorized"), body
            assert EMAIL not in str(body) and NAME not in str(body)
    assert await _requests(rt) == 0
    async with rt.db.session() as session:
        assert await session.scalar(select(AuditLog).where(AuditLog.action.like("privacy.%"))) is None
    await _unchanged(rt, before)


async def test_erasing_twice_or_someone_unknown_is_harmless(rt, app_url, http) -> None:
    await person(rt.db)
    admin = await _token(rt, Role.ADMIN)
    status, first = await _post(
        http, f"{app_url}/api/privacy/erase", admin, {"email": EMAIL, "reason": "ticket 9"}
    )
    assert status == 200 and first["found"]
    after = await communications_at_rest(rt.db)
    stored = [s for s in await texts(rt.db) if s[0] not in ("privacy_requests", "audit_log")]
    for email in (EMAIL, "nobody@example.org"):
        status, again = await _post(
            http, f"{app_url}/api/privacy/erase", admin, {"email": email, "reason": "ticket 9"}
        )
        assert status == 200 and not again["found"] and again["communications"] == 0, again
    assert await communications_at_rest(rt.db) == after
    assert [s for s in await texts(rt.db) if s[0] not in ("privacy_requests", "audit_log")] == stored
    assert await _requests(rt) == 3


async def test_on_a_hardened_database_the_app_erases_but_cannot_forge_or_delete(db, database_url) -> None:
    """After `clientbot db harden` the app's role still erases (the trigger reads privacy_requests, the
    setting is its own), may not delete a request, and still can't redact outside an open one."""
    async with hardened(db, database_url) as (as_app, record):
        async with as_app.session() as session:
            admin = await factories.user(session, "UADMIN", Role.ADMIN)
            result = await privacy.erase(
                session, actor=admin, email="nobody@example.org", reason="ticket 9", by="UADMIN"
            )
        assert not result["found"]
        await _refused(as_app, "DELETE FROM privacy_requests", match="permission denied")
        await _refused(
            as_app,
            "UPDATE privacy_requests SET completed_at = NULL",
            match="privacy_requests are an audit trail",
        )
        # A completed request permits nothing, even with the setting naming it.
        async with as_app.engine.connect() as conn:
            await conn.execute(
                text("SELECT set_config('clientbot.redaction', :rid, false)"), {"rid": result["request_id"]}
            )
            with pytest.raises(DBAPIError, match="immutable"):
                await conn.execute(
                    text(
                        "UPDATE client_communications SET notes = 'gone', redacted_at = now(), "
                        "redacted_by = 'x', redaction_request_id = :rid WHERE id = :id"
                    ),
                    {"rid": result["request_id"], "id": str(record.id)},
                )


async def test_logging_a_communication_cannot_mark_it_redacted(rt, app_url, http) -> None:
    """The redaction fields are the erasure's alone: a logged record that names them is stored without."""
    cast = await person(rt.db)
    manager = await _token(rt, Role.MANAGER)
    now = app_clock.now().isoformat()
    forged = {"redacted_at": now, "redacted_by": "UADMIN", "redaction_request_id": str(uuid.uuid4())}
    body = {"communication_type": "call", "communication_date": now, "subject": "Hi"}
    status, reply = await _post(
        http, f"{app_url}/api/clients/{cast.client_code}/communications", manager, body | forged
    )
    assert status == 201 and reply["redacted_at"] is None and reply["redacted_by"] is None, reply
    async with rt.db.session() as session:
        stored = await session.get(ClientCommunication, uuid.UUID(reply["id"]))
    assert (stored.redacted_at, stored.redacted_by, stored.redaction_request_id) == (None, None, None)
