"""Personal-data requests (issue 13 part 4): export finds everything held about a contact or candidate,
erasure redacts them everywhere (the immutable communications included, through the one path the database
permits) and keeps every record, its date and type; the CLI and the admin API do both, audited."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.db import Database
from bot.models import AuditLog, ClientCommunication, ClientContact, PrivacyRequest, Role
from bot.services import api_tokens, privacy
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.privacy_data import EMAIL, FILE, NAME, OTHER, communications_at_rest, holding, person, texts

PHONE_DIGITS = ("4155552672", "555-2672")


async def _admin(db: Database):
    async with db.session() as session:
        return await factories.user(session, "UADMIN", Role.ADMIN)


async def test_export_finds_everything_held_about_the_person(db) -> None:
    cast = await person(db)
    admin = await _admin(db)
    async with db.session() as session:
        data = await privacy.export(session, actor=admin, email=f"  {EMAIL.title()} ", by="UADMIN")
    assert data["email"] == EMAIL and NAME in data["names"] and "+14155552672" in data["phones"]
    assert [(c["full_name"], c["client_code"]) for c in data["contacts"]] == [(NAME, cast.client_code)]
    assert [c["email"] for c in data["candidates"]] == [EMAIL]
    assert [(a["stage"], a["job_title"]) for a in data["applications"]] == [("interviewed", "Data engineer")]
    assert {c["id"] for c in data["communications"]} == {str(r.id) for r in cast.mentioned}
    assert str(cast.untouched.id) not in json.dumps(data["communications"])
    assert [f["written_feedback"] for f in data["feedback_mentions"]] == [f"{NAME} answers within the hour."]
    actions = {e["action"] for e in data["audit_entries"]}
    assert {"candidate.created", "client.created"} <= actions, actions
    created = next(e for e in data["audit_entries"] if e["action"] == "client.created")
    assert NAME in json.dumps(created) and OTHER not in json.dumps(created)  # John's data is his
    assert [(a["original_name"], a["sha256"]) for a in data["attachments"]] == [
        (FILE["original_name"], FILE["sha256"])
    ]
    json.dumps(data)  # JSON-safe as it is
    async with db.session() as session:
        request = await session.scalar(select(PrivacyRequest))
        logged = await session.scalar(select(AuditLog).where(AuditLog.action == "privacy.export"))
    assert (
        request.kind == "export" and request.completed_at and request.subject_digest == privacy.digest(EMAIL)
    )
    assert logged.actor_id == admin.id and logged.after["communications"] == 2
    assert EMAIL not in json.dumps([logged.after, request.reason, request.result])


async def test_erase_redacts_the_person_everywhere_and_keeps_every_record(db) -> None:
    cast = await person(db)
    before = await communications_at_rest(db)
    assert holding(await texts(db), EMAIL, NAME)
    admin = await _admin(db)
    async with db.session() as session:
        result = await privacy.erase(
            session, actor=admin, email=EMAIL, reason=f"Art. 17 request from {NAME} <{EMAIL}>", by="UADMIN"
        )
    assert result["found"] and result["communications"] == 2 and result["contacts"] == 1
    assert result["candidates"] == 1 and result["other_fields"] >= 3
    assert result["attachments_to_review"] == [
        {"communication_id": str(cast.mentioned[1].id), "index": 0, "size": 1234, "mime": "application/pdf"}
        | {"sha256": FILE["sha256"]}
    ]

    stored = await texts(db)
    assert holding(stored, EMAIL, NAME, "zelda", "quist", *PHONE_DIGITS) == []
    assert holding(stored, OTHER) and holding(stored, "John Doe")  # the other contact stays
    assert await communications_at_rest(db) == before  # same records, ids, dates, types, files

    async with db.session() as session:
        records = {r.id: r for r in await session.scalars(select(ClientCommunication))}
        contact = await session.scalar(
            select(ClientContact).where(ClientContact.full_name == privacy.REDACTED)
        )
        request = await session.scalar(select(PrivacyRequest))
    email, meeting = (records[r.id] for r in cast.mentioned)
    for record in (email, meeting):
        assert record.redacted_at == request.created_at and record.redacted_by == "UADMIN"
        assert record.redaction_request_id == request.id
    assert email.participants[0] == {"name": privacy.REDACTED, "email": None}
    assert email.participants[1]["email"] == OTHER
    assert email.subject == "Re: next steps for [redacted]"
    assert email.notes.startswith("Thanks! Reach me on [redacted] or [redacted].")
    assert meeting.attachments[0]["original_name"] == "[redacted] CV.pdf"
    assert "John to send the offer" in meeting.notes
    untouched = records[cast.untouched.id]
    assert untouched.redacted_at is None and untouched.notes == "John Doe confirmed the budget."
    assert contact.email.endswith("@" + privacy.REDACTED_DOMAIN) and contact.phone is None
    assert request.kind == "erase" and request.completed_at and "[redacted]" in request.reason


async def test_a_redacted_record_says_so_in_the_history(slack, fake, rt) -> None:
    """ "redacted on … by …" in the timeline Slack shows, and the person's name is gone from it."""
    cast = await person(rt.db)
    admin = await _admin(rt.db)
    async with rt.db.session() as session:
        await privacy.erase(session, actor=admin, email=EMAIL, reason="erasure request 42", by="UADMIN")
    await slack.command(f"history {cast.client_code}", user_id="UMANAGER")
    timeline = await fake.wait_for_response(slack.last_response_url)
    shown = json.dumps(timeline)
    assert shown.count("personal data redacted on <!date^") == 2 and "by <@UADMIN>" in shown
    assert "Zelda" not in shown and "Budget call" in shown


async def test_a_record_holding_only_the_phone_is_found_and_redacted(db) -> None:
    from bot.services import communications
    from tests.test_communications import entry

    await person(db)
    admin = await _admin(db)
    async with db.session() as session:
        acme = await session.scalar(select(ClientContact.client_id).where(ClientContact.email == OTHER))
        note = await communications.log(
            session, actor=admin, client_id=acme, data=entry(notes="Call back: 4155552672, ext 12")
        )
    async with db.session() as session:
        result = await privacy.erase(session, actor=admin, email=EMAIL, reason="ticket 7", by="UADMIN")
    assert result["communications"] == 3
    async with db.session() as session:
        assert (await session.get(ClientCommunication, note.id)).notes == "Call back: [redacted], ext 12"


def test_redaction_rewrites_names_and_numbers_not_keys_or_hashes() -> None:
    person_ = privacy.Person(email="bea@x.example.org", names={"Bea Dace"}, phones={"+14155552672"})
    redactor = privacy.Redactor(person_, in_context=True)
    meta = {"name": "bea-dace.pdf", "original_name": "Bea  DACE (415) 555 2672.pdf", "size": 4155552672}
    meta |= {"sha256": "bea 4155552672", "storage_key": "attachments/bea/dace.pdf"}
    assert redactor.file(meta) == meta | {
        "name": "[redacted]-[redacted].pdf",
        "original_name": "[redacted] [redacted].pdf",
    }
    assert redactor.text("Call Bea on 0415-555-2672 or +1.415.555.2672, not 14155552673.") == (
        "Call [redacted] on [redacted] or [redacted], not 14155552673."
    )


def _id(db: Database, value: uuid.UUID) -> str:
    return str(value) if db.is_postgres else value.hex


async def _refused(db: Database, *statements: tuple[str, dict[str, Any]]) -> None:
    with pytest.raises((DBAPIError, IntegrityError)) as caught:
        async with db.engine.begin() as conn:
            for statement, params in statements:
                await conn.execute(text(statement), params)
    assert "immutable" in str(caught.value), caught.value


OPEN_REQUEST = (
    "INSERT INTO privacy_requests (id, kind, subject_digest, requested_by_label, created_at) "
    "VALUES (:rid, 'erase', 'x', 'test', CURRENT_TIMESTAMP)"
)


async def test_only_the_redaction_path_changes_a_communication(db) -> None:
    """An ordinary UPDATE is refused as before, on both databases; so is a redaction without an open
    erasure request (or, on PostgreSQL, without the transaction naming it), and a redaction that touches
    anything but the redaction columns."""
    cast = await person(db)
    record = cast.untouched
    rid = uuid.uuid4()
    where = {"id": _id(db, record.id), "rid": _id(db, rid)}
    redact = (
        "UPDATE client_communications SET notes = 'gone', redacted_at = CURRENT_TIMESTAMP, "
        "redacted_by = 'x', redaction_request_id = :rid WHERE id = :id"
    )
    name_it = ("SELECT set_config('clientbot.redaction', :rid, true)", {"rid": str(rid)})
    await _refused(db, ("UPDATE client_communications SET notes = 'rewritten' WHERE id = :id", where))
    await _refused(db, ("UPDATE client_communications SET redacted_by = 'x' WHERE id = :id", where))
    if db.is_postgres:  # an open request the transaction did not name
        await _refused(db, (OPEN_REQUEST, where), (redact, where))
    await _refused(db, (redact, where))  # no such request
    for change in ("communication_date = CURRENT_TIMESTAMP", "is_important = NOT is_important"):
        edit = redact.replace("notes = 'gone'", change)
        await _refused(db, (OPEN_REQUEST, where), *([name_it] if db.is_postgres else []), (edit, where))
    # Attachments keep their files through a redaction: only names may change.
    meeting = cast.mentioned[1]
    swapped = json.dumps([FILE | {"sha256": "0" * 64}])
    edit = redact.replace("notes = 'gone'", "attachments = :files")
    await _refused(
        db,
        (OPEN_REQUEST, where),
        *([name_it] if db.is_postgres else []),
        (edit, {**where, "id": _id(db, meeting.id), "files": swapped}),
    )
    # The permitted path itself: an open request (named by the transaction on PostgreSQL).
    async with db.engine.begin() as conn:
        await conn.execute(text(OPEN_REQUEST), where)
        if db.is_postgres:
            await conn.execute(text(name_it[0]), name_it[1])
        await conn.execute(text(redact), where)
        await conn.execute(
            text("UPDATE privacy_requests SET completed_at = CURRENT_TIMESTAMP WHERE id = :rid"), where
        )
    async with db.session() as session:
        assert (await session.get(ClientCommunication, record.id)).notes == "gone"
    # Completed, the request permits nothing more, and it can't be reopened or deleted.
    again = (redact.replace("'gone'", "'again'"), where)
    await _refused(db, *([name_it] if db.is_postgres else []), again)
    for statement in (
        "UPDATE privacy_requests SET completed_at = NULL WHERE id = :rid",
        "DELETE FROM privacy_requests WHERE id = :rid",
    ):
        with pytest.raises((DBAPIError, IntegrityError), match="privacy_requests"):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement), where)
    await _refused(db, ("DELETE FROM client_communications WHERE id = :id", where))


async def test_erase_is_idempotent_and_an_unknown_email_changes_nothing(db) -> None:
    await person(db)
    admin = await _admin(db)
    async with db.session() as session:
        await privacy.erase(session, actor=admin, email=EMAIL, reason="erasure request 42", by="UADMIN")
    after_first = [s for s in await texts(db) if s[0] not in ("privacy_requests", "audit_log")]
    for email in (EMAIL, "nobody@nowhere.example.org"):
        async with db.session() as session:
            result = await privacy.erase(
                session, actor=admin, email=email, reason="erasure request 43", by="UADMIN"
            )
        assert not result["found"] and result["communications"] == result["contacts"] == 0
    assert [s for s in await texts(db) if s[0] not in ("privacy_requests", "audit_log")] == after_first
    async with db.session() as session:
        kinds = list(await session.scalars(select(PrivacyRequest.kind)))
    assert kinds == ["erase"] * 3


async def test_only_an_hr_admin_may_ask(db) -> None:
    await person(db)
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    for call in (privacy.export, privacy.erase):
        with pytest.raises(Exception, match="Only an HR Admin"):
            async with db.session() as session:
                extra = {"reason": "because"} if call is privacy.erase else {}
                await call(session, actor=manager, email=EMAIL, by="UMANAGER", **extra)
    async with db.session() as session:
        assert list(await session.scalars(select(PrivacyRequest))) == []


# -- the command line ------------------------------------------------------------------------------------
async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    import asyncio

    process = await asyncio.create_subprocess_exec(
        *cli_argv(*args),
        env=cli_env(None, DATABASE_URL=database_url, CLIENTBOT_ADMINS="UADMIN"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cli_exports_and_erases(db, database_url: str, tmp_path) -> None:
    await person(db)
    out = tmp_path / "zelda.json"
    code, stdout, stderr = await _cli(database_url, "privacy", "export", EMAIL, "--out", str(out))
    assert code == 0, stderr
    exported = json.loads(out.read_text())
    assert exported["counts"]["communications"] == 2 and exported["contacts"][0]["full_name"] == NAME
    code, stdout, stderr = await _cli(
        database_url, "privacy", "erase", EMAIL, "--reason", "ticket 7", "--by", "UMANAGER"
    )
    assert code == 2 and "Only an HR Admin" in stderr  # UMANAGER is a manager
    code, stdout, stderr = await _cli(
        database_url, "privacy", "erase", EMAIL, "--reason", "ticket 7", "--by", "UADMIN"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["communications"] == 2
    assert holding(await texts(db), EMAIL, NAME) == []
    code, _, stderr = await _cli(database_url, "privacy", "erase", "not-an-email", "--reason", "ticket 7")
    assert code == 2 and "valid email" in stderr


# -- the REST API ----------------------------------------------------------------------------------------
@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def api_token(rt, role: Role) -> str:
    async with rt.db.session() as session:
        value, _ = await api_tokens.create(session, name=f"{role.value} integration", role=role)
    return value


async def post(http, url: str, token: str | None, body: Any) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as reply:
        return reply.status, await reply.json()


async def test_api_exports_and_erases_for_admins_only(rt, app_url, http) -> None:
    cast = await person(rt.db)
    admin = await api_token(rt, Role.ADMIN)
    for role in (Role.MANAGER, Role.RECRUITER):
        lower = await api_token(rt, role)
        for path in ("export", "erase"):
            status, body = await post(
                http, f"{app_url}/api/privacy/{path}", lower, {"email": EMAIL, "reason": "x42"}
            )
            assert (status, body["error"]["code"]) == (403, "forbidden"), body
    status, body = await post(http, f"{app_url}/api/privacy/export", admin, {"email": EMAIL})
    assert status == 200 and body["counts"]["communications"] == 2, body
    status, body = await post(
        http, f"{app_url}/api/privacy/erase", admin, {"email": EMAIL, "reason": "ticket 7"}
    )
    assert status == 200 and body["communications"] == 2 and body["by"] == "API: admin integration", body
    assert holding(await texts(rt.db), EMAIL, NAME) == []
    url = f"{app_url}/api/clients/{cast.client_code}/communications"
    async with http.get(url, headers={"Authorization": f"Bearer {admin}"}) as reply:
        listed = (await reply.json())["communications"]
    by = "API: admin integration"
    assert sorted(c["redacted_by"] or "" for c in listed) == ["", by, by]
    async with rt.db.session() as session:
        actions = list(
            await session.scalars(select(AuditLog.action).where(AuditLog.action.like("privacy.%")))
        )
        kinds = list(await session.scalars(select(PrivacyRequest.kind).order_by(PrivacyRequest.created_at)))
    assert sorted(actions) == ["privacy.erase", "privacy.export"] and kinds == ["export", "erase"]
