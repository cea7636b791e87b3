"""The communication log at the service and database level: immutability, archive, access, search."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.errors import PermissionDenied, ValidationFailed
from bot.models import AuditLog, ClientCommunication, ClientStatus, ImmutableRecord, Role
from bot.services import clients, communications
from bot.services.communications import HistoryFilter
from tests import factories

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def entry(**overrides) -> communications.CommunicationIn:
    data = {
        "communication_type": "meeting",
        "communication_date": START,
        "subject": "Kick-off",
        "notes": "Discussed the hiring plan",
    } | overrides
    return communications.parse_communication(data)


async def _setup(session):
    manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    recruiter = await factories.user(session, "URECRUITER")
    acme = await factories.client(session, manager, "Acme")
    return manager, recruiter, acme


async def test_validation_rules() -> None:
    assert entry(communication_type="Phone Call").communication_type == "call"
    for bad, field in [
        ({"communication_type": "fax"}, "communication_type"),
        ({"subject": None, "notes": "  "}, "subject"),
        ({"follow_up_required": True}, "follow_up_date"),
        ({"subject": "x" * 501}, "subject"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            entry(**bad)
        assert field in caught.value.fields
    assert entry(follow_up_date="2026-03-08").follow_up_required


async def test_records_cannot_be_edited_or_deleted_through_the_orm(db) -> None:
    async with db.session() as session:
        manager, _recruiter, acme = await _setup(session)
        record = await communications.log(session, actor=manager, client_id=acme.id, data=entry())
    with pytest.raises(ImmutableRecord):
        async with db.session() as session:
            (await session.get(ClientCommunication, record.id)).notes = "rewritten"
    with pytest.raises(ImmutableRecord):
        async with db.session() as session:
            await session.delete(await session.get(ClientCommunication, record.id))
    async with db.session() as session:
        assert (await session.get(ClientCommunication, record.id)).notes == "Discussed the hiring plan"


async def test_raw_sql_update_and_delete_fail_in_the_database(db) -> None:
    async with db.session() as session:
        manager, _recruiter, acme = await _setup(session)
        record = await communications.log(session, actor=manager, client_id=acme.id, data=entry())
    record_id = record.id.hex if not db.is_postgres else str(record.id)
    for statement in (
        "UPDATE client_communications SET notes = 'x' WHERE id = :id",
        "DELETE FROM client_communications WHERE id = :id",
    ):
        with pytest.raises((DBAPIError, IntegrityError)) as caught:
            async with db.engine.begin() as conn:
                await conn.execute(text(statement), {"id": record_id})
        assert "immutable" in str(caught.value)
    async with db.engine.begin() as conn:  # archiving is the one allowed change
        await conn.execute(
            text("UPDATE client_communications SET archived_at = CURRENT_TIMESTAMP WHERE id = :id"),
            {"id": record_id},
        )
    with pytest.raises((DBAPIError, IntegrityError)) as caught:  # and it cannot be undone
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE client_communications SET archived_at = NULL WHERE id = :id"), {"id": record_id}
            )
    assert "stays archived" in str(caught.value)
    with pytest.raises(ImmutableRecord):
        async with db.session() as session:
            (await session.get(ClientCommunication, record.id)).archived_at = None
    async with db.session() as session:
        assert (await session.get(ClientCommunication, record.id)).archived_at is not None


async def test_archive_rights_and_corrections(db) -> None:
    async with db.session() as session:
        manager, recruiter, acme = await _setup(session)
        other = await factories.user(session, "UOTHER")
        mine = await communications.log(session, actor=recruiter, client_id=acme.id, data=entry())
        with pytest.raises(PermissionDenied):
            await communications.archive(session, actor=other, communication_id=mine.id)
        archived = await communications.archive(session, actor=recruiter, communication_id=mine.id)
        assert archived.archived_at and archived.archived_by == recruiter.id
        theirs = await communications.log(session, actor=other, client_id=acme.id, data=entry())
        assert (await communications.archive(session, actor=manager, communication_id=theirs.id)).archived_at
        fix = await communications.log(
            session,
            actor=recruiter,
            client_id=acme.id,
            data=entry(subject="Kick-off (corrected)", supersedes_id=str(mine.id)),
        )
        assert fix.supersedes_id == mine.id
        actions = list(
            await session.scalars(select(AuditLog.action).where(AuditLog.action.like("communication.%")))
        )
        assert actions.count("communication.archived") == 2 and actions.count("communication.logged") == 3


async def test_archived_clients_and_guests_are_hidden(db) -> None:
    async with db.session() as session:
        manager, recruiter, acme = await _setup(session)
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        record = await communications.log(session, actor=manager, client_id=acme.id, data=entry())
        recruiter.is_guest = True
        with pytest.raises(PermissionDenied, match="guest"):
            await communications.history(session, actor=recruiter, client=acme, filters=HistoryFilter())
        recruiter.is_guest = False
        await clients.change_status(
            session, actor=admin, client_id=acme.id, status=ClientStatus.ARCHIVED, reason="Gone"
        )
        with pytest.raises(PermissionDenied, match="archived"):
            await communications.attachments(session, actor=recruiter, communication_id=record.id, index=0)
        page = await communications.history(session, actor=manager, client=acme, filters=HistoryFilter())
        assert page.total == 1


async def test_history_filters_search_and_pages_over_1000_records(db) -> None:
    async with db.session() as session:
        manager, _recruiter, acme = await _setup(session)
        session.add_all(
            ClientCommunication(
                id=uuid.uuid4(),
                client_id=acme.id,
                logged_by=manager.id,
                communication_type=["meeting", "call", "email", "video_call", "contract_signed"][n % 5],
                subject=f"Record {n}" + (" salary negotiation" if n % 100 == 0 else ""),
                notes="budget review" if n % 250 == 0 else "routine",
                communication_date=START + timedelta(hours=n),
                is_important=n % 10 == 0,
                follow_up_required=n % 50 == 0,
                follow_up_date=date(2026, 6, 1) if n % 50 == 0 else None,
                participants=[],
                attachments=[],
            )
            for n in range(1000)
        )
        await session.flush()

        async def query(**kwargs) -> communications.HistoryPage:
            page = kwargs.pop("page", 1)
            return await communications.history(
                session, actor=manager, client=acme, filters=HistoryFilter(**kwargs), page=page
            )

        first, last = await query(), await query(page=50)
        assert (first.total, first.pages, len(first.entries)) == (1000, 50, 20)
        assert first.entries[0].record.subject == "Record 999"  # newest first
        assert last.entries[-1].record.subject.startswith("Record 0")
        beyond = await query(page=70)  # past the end: the last page, with the total
        assert (beyond.page, beyond.total, beyond.entries[-1].record.subject) == (
            50,
            1000,
            "Record 0 salary negotiation",
        )
        assert (
            await query(page=2, types=[communications.CommunicationType.VIDEO_CALL], text="nothing like this")
        ).total == 0
        assert (await query(types=[communications.CommunicationType.CALL])).total == 200
        assert (await query(important=True)).total == 100
        assert (await query(follow_up=True)).total == 20
        assert (await query(text="salary")).total == 10
        assert (await query(text="budget")).total == 4
        day = (START + timedelta(hours=24)).date()
        assert (await query(date_from=day, date_to=day)).total == 24


async def test_attachments_can_grow_but_never_shrink_in_the_database(db) -> None:
    async with db.session() as session:
        manager, _recruiter, acme = await _setup(session)
        record = await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            data=entry(),
            attachments=[{"name": "a.pdf", "sha256": "0" * 64}],
        )
    record_id = record.id.hex if not db.is_postgres else str(record.id)
    grown = '[{"name": "a.pdf", "sha256": "' + "0" * 64 + '"}, {"name": "b.pdf", "sha256": "1"}]'
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE client_communications SET attachments = :a WHERE id = :id"),
            {"a": grown, "id": record_id},
        )
    with pytest.raises((DBAPIError, IntegrityError)):
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE client_communications SET attachments = '[]' WHERE id = :id"), {"id": record_id}
            )
    with pytest.raises(ImmutableRecord):
        async with db.session() as session:
            (await session.get(ClientCommunication, record.id)).attachments = []
