"""The communication log: immutable records of client interactions, with attachments, archive,
corrections, follow-ups, search and access control."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from sqlalchemy import Select, bindparam, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import built_once, columns_of, dialect_name, paged, read_page, read_rows, record_type
from bot.errors import NotFound, ValidationFailed
from bot.models import (
    OPEN_FOLLOW_UP,
    Client,
    ClientCommunication,
    CommunicationType,
    Job,
    Role,
    SubscriptionEvent,
    User,
    utcnow,
)
from bot.roles import require
from bot.services import audit, clients, subscriptions
from bot.services.inputs import FieldProblems, parse_input
from bot.storage import SniffedFile, Storage, safe_filename, sniff_attachment

PAGE_SIZE = 20
MAX_ATTACHMENTS = 10
TYPE_LABELS = {
    CommunicationType.MEETING: "Meeting",
    CommunicationType.CALL: "Phone Call",
    CommunicationType.EMAIL: "Email",
    CommunicationType.VIDEO_CALL: "Video Call",
    CommunicationType.CONTRACT_SIGNED: "Contract Signed",
}
TYPE_ALIASES = {
    **{t.value: t for t in CommunicationType},
    **{label.lower().replace(" ", "_"): t for t, label in TYPE_LABELS.items()},
    "phone": CommunicationType.CALL,
    "video": CommunicationType.VIDEO_CALL,
    "contract": CommunicationType.CONTRACT_SIGNED,
}


SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class Participant(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    # A Slack user id (https://api.slack.com/changelog/2016-08-11-user-id-format-changes): anything else
    # would be rendered inside <@…> markup.
    slack_user_id: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=255)
    email: EmailStr | None = None

    @field_validator("slack_user_id")
    @classmethod
    def _slack_id(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_USER_ID.fullmatch(value):
            raise ValueError("Use a Slack user id such as U012AB3CD.")
        return value


class CommunicationIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    communication_type: CommunicationType
    communication_date: datetime
    participants: list[Participant] = Field(default_factory=list, max_length=100)
    subject: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=20000)
    job_id: str | None = None
    is_important: bool = False
    follow_up_required: bool = False
    follow_up_date: date | None = None
    permalink: str | None = Field(default=None, max_length=500)
    supersedes_id: uuid.UUID | None = None

    @field_validator("communication_type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            return TYPE_ALIASES.get(value.strip().lower().replace(" ", "_").replace("-", "_"), value)
        return value

    @field_validator("subject", "notes", "job_id", "permalink", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> CommunicationIn:
        if self.communication_date.tzinfo is None:
            self.communication_date = self.communication_date.replace(tzinfo=UTC)
        problems = {}
        if not self.subject and not self.notes:
            problems["subject"] = "Add a subject or some notes."
        if self.follow_up_date and not self.follow_up_required:
            self.follow_up_required = True
        if self.follow_up_required and not self.follow_up_date:
            problems["follow_up_date"] = "Pick the date to follow up by."
        if problems:
            raise FieldProblems(problems)
        return self


def parse_communication(data: dict[str, Any]) -> CommunicationIn:
    return parse_input(CommunicationIn, data)


@dataclass(frozen=True)
class IncomingFile:
    name: str
    content: bytes


def check_attachments(
    files: list[IncomingFile], *, max_bytes: int | None = None
) -> list[tuple[IncomingFile, SniffedFile]]:
    """Judge every file by content and size (all or nothing). `max_bytes` raises the per-file limit where
    the channel allows larger files (email: the message limit). CPU-bound (libmagic, zip and OLE2
    inspection): async code calls `save_attachments`, which runs it in a worker thread."""
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationFailed({"attachments": f"Attach at most {MAX_ATTACHMENTS} files."})
    limit = {"max_bytes": max_bytes} if max_bytes else {}
    return [(f, sniff_attachment(f.content, name=f.name[:1000] or "A file", **limit)) for f in files]


async def save_attachments(
    storage: Storage, files: list[IncomingFile], *, max_bytes: int | None = None
) -> list[dict[str, Any]]:
    """Check every file first (`check_attachments`, in a worker thread, so a hostile container never stalls
    the event loop), then store them. `name` is a safe basename whose extension matches the content; the
    sender's own name is kept as data (`original_name`)."""
    sniffed = await asyncio.to_thread(check_attachments, files, max_bytes=max_bytes)
    stored = []
    for incoming, kind in sniffed:
        saved = await storage.put(
            incoming.content, kind="attachments", extension=kind.extension, mime=kind.mime
        )
        stored.append(
            {
                "name": safe_filename(incoming.name, kind.extension),
                "original_name": incoming.name[:255],
                "size": saved.size,
                "mime": kind.mime,
                "sha256": saved.sha256,
                "storage_key": saved.key,
            }
        )
    return stored


def handed_back_name(meta: dict[str, Any]) -> str:
    """The name a stored attachment goes back to users under (records stored before names were cleaned
    included): a safe basename whose extension matches the stored content."""
    return safe_filename(meta.get("name"), str(meta.get("storage_key", "")).rpartition(".")[2] or None)


# The one visibility rule lives in the clients service; these names stay for the existing callers.
can_view_client = clients.can_view
require_view = clients.require_visible


async def log(
    session: AsyncSession,
    *,
    actor: User,
    client_id: uuid.UUID,
    data: CommunicationIn,
    attachments: list[dict[str, Any]] | None = None,
    source: str = "slack",
) -> ClientCommunication:
    require(actor, Role.RECRUITER, "log communications")
    client = await clients.get(session, client_id)
    require_view(actor, client)
    job_id = None
    if data.job_id:
        job = await _job_of_client(session, client, data.job_id)
        job_id = job.id
    if data.supersedes_id:
        original = await session.get(ClientCommunication, data.supersedes_id)
        if original is None or original.client_id != client.id:
            raise ValidationFailed(
                {"supersedes_id": "The record being corrected is not one of this client's."}
            )
    record = ClientCommunication(
        id=uuid.uuid4(),
        client_id=client.id,
        communication_type=data.communication_type.value,
        subject=data.subject,
        notes=data.notes,
        communication_date=data.communication_date,
        participants=[p.model_dump(exclude_none=True, mode="json") for p in data.participants],
        job_reference_id=job_id,
        logged_by=actor.id,
        is_important=data.is_important,
        follow_up_required=data.follow_up_required,
        follow_up_date=data.follow_up_date,
        attachments=attachments or [],
        permalink=data.permalink,
        supersedes_id=data.supersedes_id,
        source=source,
    )
    session.add(record)
    await session.flush()
    audit.record(
        session, actor=actor, action="communication.logged", entity=record, after=audit.snapshot(record)
    )
    if record.is_important:
        await subscriptions.publish(
            session,
            client,
            SubscriptionEvent.IMPORTANT,
            type=record.communication_type,
            subject=record.subject,
            date=record.communication_date,
            by=actor.slack_user_id,
        )
    return record


async def _job_of_client(session: AsyncSession, client: Client | clients.ClientRecord, reference: str) -> Job:
    from bot.services.jobs import get_job

    try:
        job = await get_job(session, reference)
    except NotFound:
        raise ValidationFailed({"job_id": f"No job {reference}."}) from None
    if job.client_id != client.id:
        raise ValidationFailed({"job_id": f"{job.reference} is not one of {client.client_code}'s jobs."})
    return job


async def get(
    session: AsyncSession, *, actor: User, communication_id: uuid.UUID
) -> tuple[ClientCommunication, Client]:
    record = await session.get(ClientCommunication, communication_id)
    if record is None:
        raise NotFound("No such communication.")
    client = await clients.get(session, record.client_id)
    require_view(actor, client)
    return record, client


async def add_attachments(
    session: AsyncSession,
    storage: Storage,
    *,
    actor: User,
    communication_id: uuid.UUID,
    files: list[IncomingFile],
) -> ClientCommunication:
    """Attach more files to a record (append-only: what is attached stays as it is). The author, HR
    Managers and Admins may."""
    record, _client = await get(session, actor=actor, communication_id=communication_id)
    if record.logged_by != actor.id:
        require(actor, Role.MANAGER, "attach files to someone else's communication")
    existing = list(record.attachments or [])
    if not files:
        raise ValidationFailed({"attachments": "Send at least one file."})
    if len(existing) + len(files) > MAX_ATTACHMENTS:
        raise ValidationFailed({"attachments": f"A communication holds at most {MAX_ATTACHMENTS} files."})
    added = await save_attachments(storage, files)
    record.attachments = [*existing, *added]
    audit.record(
        session,
        actor=actor,
        action="communication.attachments_added",
        entity=record,
        after={"added": [{k: a[k] for k in ("name", "sha256", "size")} for a in added]},
    )
    await session.flush()
    return record


async def archivable(
    session: AsyncSession, *, actor: User, communication_id: uuid.UUID
) -> ClientCommunication:
    """The record, when `actor` may archive it: its author, HR Managers and Admins."""
    record, _client = await get(session, actor=actor, communication_id=communication_id)
    if record.logged_by != actor.id:
        require(actor, Role.MANAGER, "archive someone else's communication")
    return record


async def archive(session: AsyncSession, *, actor: User, communication_id: uuid.UUID) -> ClientCommunication:
    """Only the author, HR Managers and Admins archive; archiving twice changes nothing."""
    record = await archivable(session, actor=actor, communication_id=communication_id)
    if record.archived_at is None:
        record.archived_at, record.archived_by = utcnow(), actor.id
        audit.record(
            session,
            actor=actor,
            action="communication.archived",
            entity=record,
            before={"archived_at": None},
            after={"archived_at": audit.jsonable(record.archived_at)},
        )
        await session.flush()
    return record


async def attachments(
    session: AsyncSession,
    *,
    actor: User,
    communication_id: uuid.UUID,
    index: int | None,
) -> list[dict[str, Any]]:
    """One attachment's metadata (or all of them, index None) with the name it is handed back under, for
    users who may see the client; callers stream the bytes from the store by `storage_key`. Every download
    is audited."""
    record, _client = await get(session, actor=actor, communication_id=communication_id)
    files = record.attachments or []
    if index is not None and not 0 <= index < len(files):
        raise NotFound("No such attachment.")
    chosen = files if index is None else [files[index]]
    if not chosen:
        raise NotFound("This record has no attachments.")
    for meta in chosen:
        audit.record(
            session,
            actor=actor,
            action="attachment.downloaded",
            entity=record,
            after={"name": meta["name"], "sha256": meta["sha256"]},
        )
    return [meta | {"name": handed_back_name(meta)} for meta in chosen]


@dataclass
class HistoryFilter:
    types: list[CommunicationType] = field(default_factory=list)
    important: bool = False
    follow_up: bool = False
    job_reference: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    text: str | None = None
    include_archived: bool = False


# A communication as a history page reads it: its columns only, as a named tuple whose names are
# ClientCommunication's attributes (no ORM entity: loading 20 of them was an eighth of a history's CPU).
CommunicationRecord = record_type(ClientCommunication, "CommunicationRecord", __name__)
_COMMUNICATION_COLUMNS = columns_of(ClientCommunication, CommunicationRecord)


@dataclass
class HistoryEntry:
    record: CommunicationRecord
    logged_by: str  # the Slack user id of who logged it
    job_reference: str | None


@dataclass
class HistoryPage:
    entries: list[HistoryEntry]
    total: int
    page: int
    pages: int


async def history(
    session: AsyncSession,
    *,
    actor: User,
    client: Client | clients.ClientRecord,
    filters: HistoryFilter,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    tz: ZoneInfo = ZoneInfo("UTC"),
) -> HistoryPage:
    """A client's timeline, newest first; free text searches subject and notes (PostgreSQL full-text
    matching on the client's own rows, LIKE on SQLite). One statement for a page that exists (the total
    rides along as a window count); a page past the end is counted, then the last page read."""
    require_view(actor, client)
    values: dict[str, Any] = {"client_id": client.id}
    if filters.types:
        values["types"] = [t.value for t in filters.types]
    if filters.job_reference:
        values["job_id"] = (await _job_of_client(session, client, filters.job_reference)).id
    if filters.date_from:
        values["date_from"] = datetime.combine(filters.date_from, time.min, tz)
    if filters.date_to:
        values["date_to"] = datetime.combine(filters.date_to + timedelta(days=1), time.min, tz)
    dialect = dialect_name(session)
    words = [w for w in (filters.text or "").split() if w]
    if words and dialect == "postgresql":
        values["text"] = filters.text
    elif words:  # SQLite: every word found in the subject or the notes
        values |= {f"word{n}": clients.containing(w) for n, w in enumerate(words)}
    flags = (not filters.include_archived, filters.important, filters.follow_up)
    query, count = _history_query(tuple(sorted(values)), flags)
    rows, total, page, pages = await read_page(
        session, query, count, page, per_page, values, columns_only=True
    )
    width = len(CommunicationRecord._fields)
    return HistoryPage(
        [HistoryEntry(CommunicationRecord._make(row[:width]), *row[width:-1]) for row in rows],
        total,
        page,
        pages,
    )


@built_once
def _history_query(bound: tuple[str, ...], flags: tuple[bool, bool, bool]) -> Any:
    """(a page of a client's timeline with its total, its count), built once per set of filters: the
    values named `bound` are bound when it runs; `flags` are (unarchived only, important, follow-up)."""
    unarchived, important, follow_up = flags
    conditions: list[Any] = [ClientCommunication.client_id == bindparam("client_id")]
    if unarchived:
        conditions.append(ClientCommunication.archived_at.is_(None))
    if important:
        conditions.append(ClientCommunication.is_important.is_(True))
    if follow_up:
        conditions.append(ClientCommunication.follow_up_required.is_(True))
    conditions += [_HISTORY_FILTERS[name] for name in bound if name in _HISTORY_FILTERS]
    conditions += [
        clients.matches(bindparam(name), ClientCommunication.subject, ClientCommunication.notes)
        for name in bound
        if name.startswith("word")
    ]
    query = (
        select(
            *_COMMUNICATION_COLUMNS,
            User.slack_user_id.label("logged_by_slack_id"),
            Job.reference.label("job_reference"),
            func.count().over().label("total"),
        )
        .join(User, User.id == ClientCommunication.logged_by)
        .outerjoin(Job, Job.id == ClientCommunication.job_reference_id)
        .where(*conditions)
        .order_by(ClientCommunication.communication_date.desc(), ClientCommunication.id)
    )
    return paged(query), select(func.count()).select_from(ClientCommunication).where(*conditions)


def _text_match() -> Any:
    """PostgreSQL full-text match of the subject and notes on the bound `text`. Matched on the client's own
    rows (its index picks them): no whole-table full-text index, as a generic plan can't tell a common
    word from a rare one (migration 0019)."""
    simple, empty, space = literal_column("'simple'"), literal_column("''"), literal_column("' '")
    document = func.to_tsvector(
        simple,
        func.coalesce(ClientCommunication.subject, empty)
        + space
        + func.coalesce(ClientCommunication.notes, empty),
    )
    return document.op("@@")(func.plainto_tsquery(simple, bindparam("text")))


# A history filter's condition, by the name of the value it binds (SQLite's words: `word0`, `word1`, ...).
_HISTORY_FILTERS = {
    "types": ClientCommunication.communication_type.in_(bindparam("types", expanding=True)),
    "job_id": ClientCommunication.job_reference_id == bindparam("job_id"),
    "date_from": ClientCommunication.communication_date >= bindparam("date_from"),
    "date_to": ClientCommunication.communication_date < bindparam("date_to"),
    "text": _text_match(),
}


def last_contact_of(client_id: Any) -> Select[Any]:
    """The date of a client's latest communication that is not archived (`client_id`: a value, a
    `bindparam`, or a correlated `Client.id`)."""
    return select(func.max(ClientCommunication.communication_date)).where(
        ClientCommunication.client_id == client_id, ClientCommunication.archived_at.is_(None)
    )


async def open_follow_ups(
    session: AsyncSession, *, today: date
) -> dict[uuid.UUID, list[tuple[ClientCommunication, Client]]]:
    """Per person who logged them: follow-ups due today or overdue and not snoozed past today, with
    their client."""
    rows = await session.execute(
        select(ClientCommunication, Client)
        .join(Client, Client.id == ClientCommunication.client_id)
        .where(
            *OPEN_FOLLOW_UP,
            ClientCommunication.follow_up_date <= today,
            or_(
                ClientCommunication.follow_up_snoozed_until.is_(None),
                ClientCommunication.follow_up_snoozed_until <= today,
            ),
        )
        .order_by(ClientCommunication.follow_up_date)
    )
    due: dict[uuid.UUID, list[tuple[ClientCommunication, Client]]] = {}
    for record, client in rows:
        due.setdefault(record.logged_by, []).append((record, client))
    return due


async def _follow_up_of(
    session: AsyncSession, actor: User, communication_id: uuid.UUID
) -> ClientCommunication:
    record, _client = await get(session, actor=actor, communication_id=communication_id)
    if not record.follow_up_required:
        raise ValidationFailed({"follow_up": "This record has no follow-up."})
    if record.logged_by != actor.id:
        require(actor, Role.MANAGER, "close someone else's follow-up")
    return record


async def complete_follow_up(
    session: AsyncSession, *, actor: User, communication_id: uuid.UUID
) -> ClientCommunication:
    record = await _follow_up_of(session, actor, communication_id)
    if record.follow_up_done_at is None:
        record.follow_up_done_at, record.follow_up_done_by = utcnow(), actor.id
        audit.record(
            session,
            actor=actor,
            action="follow_up.done",
            entity=record,
            before={"follow_up_done_at": None},
            after={"follow_up_done_at": audit.jsonable(record.follow_up_done_at)},
        )
        await session.flush()
    return record


async def snooze_follow_up(
    session: AsyncSession, *, actor: User, communication_id: uuid.UUID, today: date, days: int = 7
) -> ClientCommunication:
    record = await _follow_up_of(session, actor, communication_id)
    before = audit.jsonable(record.follow_up_snoozed_until)
    record.follow_up_snoozed_until = today + timedelta(days=days)
    audit.record(
        session,
        actor=actor,
        action="follow_up.snoozed",
        entity=record,
        before={"follow_up_snoozed_until": before},
        after={"follow_up_snoozed_until": record.follow_up_snoozed_until.isoformat()},
    )
    await session.flush()
    return record


async def follow_ups_due(
    session: AsyncSession, *, client_id: uuid.UUID, until: date, limit: int = 10
) -> list[CommunicationRecord]:
    """Open follow-ups of a client due on or before `until`, oldest first (their columns)."""
    rows = await read_rows(session, _follow_ups_due_query(limit), {"client_id": client_id, "until": until})
    return [CommunicationRecord._make(row) for row in rows]


@built_once
def _follow_ups_due_query(limit: int) -> Any:
    return (
        select(*_COMMUNICATION_COLUMNS)
        .where(
            ClientCommunication.client_id == bindparam("client_id"),
            *OPEN_FOLLOW_UP,
            ClientCommunication.follow_up_date <= bindparam("until"),
        )
        .order_by(ClientCommunication.follow_up_date)
        .limit(limit)
    )
