"""Personal-data requests (GDPR) about a contact or a candidate, named by their email address (HR Admin).

`export` gathers everything held about the person: their contact and candidate rows, applications, the
communications they take part in or are named in (participants, email headers, subject, notes, permalink,
attachment names), feedback that mentions them, audit entries, earlier requests, and the attachments.

`erase` rewrites their name, email and phone everywhere as "[redacted]": contact and candidate rows, free
text (feedback, client fields, audit entries) and the immutable communications. A communication keeps its
id, client, type, date, author, workflow state and files; it says "redacted on … by …". Communications
are changed through the one path the database permits (migration 0015): SQL, not the ORM, under an open
`privacy_requests` row that this transaction names in `clientbot.redaction` (PostgreSQL), and that row is
completed before the transaction commits. The person is recorded by the SHA-256 of their address only.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import Text, any_, cast, func, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot import clock
from bot.models import (
    Application,
    AuditLog,
    Candidate,
    Client,
    ClientCommunication,
    ClientContact,
    ClientFeedback,
    Job,
    PrivacyKind,
    PrivacyRequest,
    Role,
    ScheduledRun,
    User,
)
from bot.roles import require
from bot.services import audit
from bot.services.inputs import parse_input

REDACTED = "[redacted]"
# Where a redacted row's unique, required email points: a reserved domain (RFC 2606) nothing is sent to.
REDACTED_DOMAIN = "redacted.example.com"
SETTING = "clientbot.redaction"  # read by the PostgreSQL trigger (migration 0015)
FILE_NAMES = ("name", "original_name")  # what an erasure may rewrite in an attachment's entry
# The stored text of a communication an erasure may rewrite (the trigger permits no other column).
COMMUNICATION_TEXT = ("subject", "notes", "participants", "permalink", "attachments")
# Free text outside communications that may name the person.
FREE_TEXT: tuple[tuple[type, tuple[str, ...]], ...] = (
    (ClientFeedback, ("written_feedback",)),
    (Client, ("address", "deactivation_reason")),
    (AuditLog, ("before", "after")),
    (ScheduledRun, ("result",)),
)


class ExportIn(BaseModel):
    """Whose data: extra fields are refused (nothing but the address reaches the query)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr = Field(max_length=254)


class EraseIn(ExportIn):
    reason: str = Field(min_length=3, max_length=2000)


def digest(email: str) -> str:
    """How a request names its person: the SHA-256 of the lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass
class Person:
    """What identifies the person in stored text: their address, the names and phones held with it."""

    email: str
    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def add_name(self, name: str | None) -> None:
        if name and len(name.strip()) >= 3 and name.strip() != REDACTED:
            self.names.add(" ".join(name.split()))

    def needles(self) -> list[str]:
        """Lower-cased strings a stored value holding the person must contain (JSON text escapes
        non-ASCII on SQLite, so those spellings too)."""
        plain = {self.email, *self.names, *self.phones, *filter(None, map(_national, self.phones))}
        found = set()
        for value in plain:
            found |= {value.lower(), value, json.dumps(value)[1:-1].lower()}
        return sorted(found)

    def pattern(self, *, name_parts: bool = False) -> re.Pattern[str]:
        """The address, the full names (any spacing and case) and the phones; with `name_parts`, each
        part of a name alone too (for a record that already names the person: "-- Zelda")."""
        names = [n.split() for n in self.names]
        if name_parts:
            names += [[part] for n in self.names for part in n.split() if len(part) >= 3]
        parts = [re.escape(self.email)]
        parts += [r"(?<!\w)" + r"\s+".join(map(re.escape, n)) + r"(?!\w)" for n in names]
        parts += [p for phone in self.phones if (p := _phone_pattern(phone))]
        return re.compile("|".join(sorted(set(parts), key=len, reverse=True)), re.IGNORECASE)


def _parsed(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return number if len(str(number.national_number)) >= 6 else None


def _national(phone: str) -> str | None:
    """The digits of a stored number as written at home (`4155552671`), to find it in text."""
    number = _parsed(phone)
    return str(number.national_number) if number else None


def _phone_pattern(phone: str) -> str | None:
    """A stored E.164 number however it is written in text: `+1 (415) 555-2671`, `415.555.2671`, …"""
    number = _parsed(phone)
    if number is None:
        return None
    national = str(number.national_number)
    sep = r"[\s().\-]*"
    prefix = rf"(?:\+{sep}{number.country_code}{sep}|0{sep}|\(\s*)?"  # +1 (415) …, 0415 …, (415) …
    return r"(?<!\d)" + prefix + sep.join(national) + r"(?!\d)"


class Redactor:
    """Rewrites the person out of text and JSON. `in_context`: the value is part of a record that names
    the person, so a name's parts alone go too."""

    def __init__(self, person: Person, *, in_context: bool = False) -> None:
        self.person = person
        self.regex = person.pattern(name_parts=in_context)

    def file(self, meta: dict[str, Any]) -> dict[str, Any]:
        """An attachment's names; its file, size, type and hash stay (the trigger allows nothing else)."""
        return meta | {k: self.text(meta[k]) for k in FILE_NAMES if isinstance(meta.get(k), str)}

    def text(self, value: str | None) -> str | None:
        return self.regex.sub(REDACTED, value) if value else value

    def data(self, value: Any) -> Any:
        """JSON data with every string rewritten; a participant entry that is the person loses the address."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            if str(value.get("email") or "").lower() == self.person.email:
                value = {**value, "email": None} | ({"name": REDACTED} if value.get("name") else {})
            return {key: self.data(item) for key, item in value.items()}
        return value


def _like(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def mentions(session: AsyncSession, columns: Iterable[Any], person: Person) -> ColumnElement[bool]:
    """SQL: one of `columns` (text or JSON) contains the person's address, a name or a phone. On
    PostgreSQL the columns are joined and lower-cased once per row and matched with `LIKE ANY`, instead
    of a cast and lower() per column and needle."""
    patterns = [_like(needle) for needle in person.needles()]
    texts = [cast(column, Text) for column in columns]
    if session.bind.dialect.name == "postgresql":
        joined = func.lower(func.concat_ws("\x1f", *texts))  # a separator no needle holds
        return joined.op("LIKE")(any_(postgresql.array(patterns)))
    return or_(*(func.lower(t).like(p, escape="\\") for t in texts for p in patterns))


async def identify(session: AsyncSession, email: str) -> tuple[Person, list[ClientContact], list[Candidate]]:
    """The person behind `email`: their contact and candidate rows, and the names and phones they hold
    (also names that email headers gave the address)."""
    person = Person(email=email.strip().lower())
    contacts = list(
        await session.scalars(select(ClientContact).where(func.lower(ClientContact.email) == person.email))
    )
    candidates = list(
        await session.scalars(select(Candidate).where(func.lower(Candidate.email) == person.email))
    )
    for row in (*contacts, *candidates):
        person.add_name(row.full_name)
    for contact in contacts:
        person.phones |= {p for p in (contact.phone, contact.mobile) if p}
    participants = await session.scalars(
        select(ClientCommunication.participants).where(
            mentions(session, [ClientCommunication.participants], person)
        )
    )
    for listed in participants:
        for entry in listed or []:
            if isinstance(entry, dict) and str(entry.get("email") or "").lower() == person.email:
                person.add_name(entry.get("name"))
    return person, contacts, candidates


async def _communications(session: AsyncSession, person: Person) -> list[ClientCommunication]:
    columns = [getattr(ClientCommunication, c) for c in COMMUNICATION_TEXT]
    return list(
        await session.scalars(
            select(ClientCommunication)
            .where(mentions(session, columns, person))
            .order_by(ClientCommunication.communication_date, ClientCommunication.id)
        )
    )


async def _open(
    session: AsyncSession, *, actor: User, kind: PrivacyKind, email: str, reason: str | None, by: str
) -> PrivacyRequest:
    request = PrivacyRequest(
        kind=kind.value,
        subject_digest=digest(email),
        reason=reason,
        requested_by=actor.id,
        requested_by_label=by[:255],
    )
    session.add(request)
    await session.flush()
    return request


def _close(session: AsyncSession, request: PrivacyRequest, *, actor: User, result: dict[str, Any]) -> None:
    request.completed_at = clock.now()
    request.result = result
    audit.record(
        session,
        actor=actor,
        action=f"privacy.{request.kind}",
        entity=request,
        after={"by": request.requested_by_label, "reason": request.reason, **result},
    )


def _row(row: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return audit.snapshot(row, exclude=exclude)


async def export(session: AsyncSession, *, actor: User, email: str, by: str) -> dict[str, Any]:
    """Everything held about the person with this address, as JSON-safe data (audited)."""
    require(actor, Role.ADMIN, "handle personal-data requests")
    data = parse_input(ExportIn, {"email": email})
    request = await _open(session, actor=actor, kind=PrivacyKind.EXPORT, email=data.email, reason=None, by=by)
    person, contacts, candidates = await identify(session, data.email)
    codes = dict((await session.execute(select(Client.id, Client.client_code))).all())
    applications = (
        await session.execute(
            select(Application, Job.reference, Job.title, Job.client_id)
            .join(Job, Job.id == Application.job_id)
            .where(Application.candidate_id.in_([c.id for c in candidates]))
            .order_by(Application.created_at)
        )
    ).all()
    records = await _communications(session, person)
    feedback = list(
        await session.scalars(
            select(ClientFeedback).where(mentions(session, [ClientFeedback.written_feedback], person))
        )
    )
    ids = [row.id for row in (*contacts, *candidates)]
    entries = list(
        await session.scalars(
            select(AuditLog)
            .where(
                or_(AuditLog.entity_id.in_(ids), mentions(session, [AuditLog.before, AuditLog.after], person))
            )
            .order_by(AuditLog.created_at)
        )
    )
    earlier = list(
        await session.scalars(
            select(PrivacyRequest)
            .where(PrivacyRequest.subject_digest == request.subject_digest, PrivacyRequest.id != request.id)
            .order_by(PrivacyRequest.created_at)
        )
    )
    attachments = [
        {"communication_id": str(record.id), **file}
        for record in records
        for file in record.attachments or []
    ]
    result = {
        "contacts": len(contacts),
        "candidates": len(candidates),
        "applications": len(applications),
        "communications": len(records),
        "feedback_mentions": len(feedback),
        "audit_entries": len(entries),
        "attachments": len(attachments),
    }
    _close(session, request, actor=actor, result=result)
    return {
        "request_id": str(request.id),
        "email": person.email,
        "generated_at": audit.jsonable(request.completed_at),
        "names": sorted(person.names),
        "phones": sorted(person.phones),
        "contacts": [{**_row(c, ("email_domain",)), "client_code": codes.get(c.client_id)} for c in contacts],
        "candidates": [_row(c) for c in candidates],
        "applications": [
            {**_row(a), "job_reference": ref, "job_title": title, "client_code": codes.get(client_id)}
            for a, ref, title, client_id in applications
        ],
        "communications": [{**_row(r), "client_code": codes.get(r.client_id)} for r in records],
        "feedback_mentions": [
            {
                k: v
                for k, v in _row(f).items()
                if k in ("id", "client_id", "feedback_period", "written_feedback")
            }
            for f in feedback
        ],
        "audit_entries": [_audit_entry(e, ids, Redactor(person).regex) for e in entries],
        "privacy_requests": [_row(r, ("requested_by",)) for r in earlier],
        "attachments": attachments,
        "counts": result,
    }


_DROPPED = object()


def _about(value: Any, regex: re.Pattern[str]) -> Any:
    """The parts of audit data that hold the person (a client's snapshot lists every contact: only
    theirs is theirs to see); `_DROPPED` when none does."""
    if isinstance(value, str):
        return value if regex.search(value) else _DROPPED
    if isinstance(value, dict):
        if any(isinstance(v, str) and regex.search(v) for v in value.values()):
            return value  # the record that holds them (a contact, a participant) whole
        kept = {k: v for k, v in ((k, _about(v, regex)) for k, v in value.items()) if v is not _DROPPED}
        return kept or _DROPPED
    if isinstance(value, list):
        kept_items = [v for v in (_about(v, regex) for v in value) if v is not _DROPPED]
        return kept_items or _DROPPED
    return _DROPPED


def _audit_entry(entry: AuditLog, own_rows: list[uuid.UUID], regex: re.Pattern[str]) -> dict[str, Any]:
    """An audit entry about the person's own contact or candidate row whole; one that only mentions
    them (a client's snapshot) with just the parts that do."""
    data = _row(entry)
    if entry.entity_id not in own_rows:
        for side in ("before", "after"):
            kept = _about(data[side], regex) if data[side] is not None else _DROPPED
            data[side] = None if kept is _DROPPED else kept
    return data


def _placeholder(row_id: uuid.UUID) -> str:
    return f"redacted-{row_id.hex[:16]}@{REDACTED_DOMAIN}"


async def _redact_communications(
    session: AsyncSession, redactor: Redactor, request: PrivacyRequest, records: Sequence[ClientCommunication]
) -> int:
    """Rewrite the person out of each record through the permitted path: SQL under the open request (the
    ORM refuses any edit of a communication)."""
    if session.bind.dialect.name == "postgresql":
        # set_config(…, true) is SET LOCAL: it ends with this transaction.
        await session.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": str(request.id)}
        )
    table = ClientCommunication.__table__
    changed = 0
    for record in records:
        values = {c: getattr(record, c) for c in COMMUNICATION_TEXT}
        new = {
            "subject": redactor.text(record.subject),
            "notes": redactor.text(record.notes),
            "permalink": redactor.text(record.permalink),
            "participants": redactor.data(record.participants),
            "attachments": record.attachments and [redactor.file(f) for f in record.attachments],
        }
        if new == values:
            continue
        await session.execute(
            update(table)
            .where(table.c.id == record.id)
            .values(
                **new,
                redacted_at=request.created_at,
                redacted_by=request.requested_by_label,
                redaction_request_id=request.id,
            )
        )
        changed += 1
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT set_config(:name, '', true)"), {"name": SETTING})
    # The loaded objects hold the old text: never let them reach a later read or flush.
    for record in records:
        session.expunge(record)
    return changed


async def _redact_free_text(session: AsyncSession, redactor: Redactor) -> int:
    changed = 0
    for model, columns in FREE_TEXT:
        rows = await session.scalars(
            select(model).where(mentions(session, [getattr(model, c) for c in columns], redactor.person))
        )
        for row in rows:
            for column in columns:
                value = getattr(row, column)
                new = redactor.data(value) if isinstance(value, dict | list) else redactor.text(value)
                if new != value:
                    setattr(row, column, new)
                    changed += 1
    return changed


async def erase(session: AsyncSession, *, actor: User, email: str, reason: str, by: str) -> dict[str, Any]:
    """Redact the person with this address everywhere (audited, idempotent: a second run finds nothing
    more to redact and records the request again)."""
    require(actor, Role.ADMIN, "handle personal-data requests")
    data = parse_input(EraseIn, {"email": email, "reason": reason})
    person, contacts, candidates = await identify(session, data.email)
    # Every value rewritten was found naming the person, so a part of their name alone goes too.
    redactor = Redactor(person, in_context=True)
    # The reason is free text an admin typed: it must not keep the address (or name) either.
    request = await _open(
        session,
        actor=actor,
        kind=PrivacyKind.ERASE,
        email=data.email,
        reason=redactor.text(data.reason),
        by=by,
    )
    records = await _communications(session, person)
    communications = await _redact_communications(session, redactor, request, records)
    for contact in contacts:
        contact.full_name, contact.email = REDACTED, _placeholder(contact.id)
        contact.phone = contact.mobile = contact.title = None
    for candidate in candidates:
        candidate.full_name, candidate.email = REDACTED, _placeholder(candidate.id)
    await session.flush()
    free_text = await _redact_free_text(session, redactor)
    # Files are kept byte for byte (their hashes are part of the record): the ones on records that named
    # the person are listed for the admin to review (a CV, a forwarded message).
    review = [
        {"communication_id": str(r.id), "index": i, **{k: f.get(k) for k in ("size", "mime", "sha256")}}
        for r in records
        for i, f in enumerate(r.attachments or [])
    ]
    result = {
        "contacts": len(contacts),
        "candidates": len(candidates),
        "communications": communications,
        "other_fields": free_text,
        "found": bool(contacts or candidates or communications or free_text),
    }
    _close(session, request, actor=actor, result=result | {"attachments_to_review": len(review)})
    await session.flush()
    return {
        "request_id": str(request.id),
        "redacted_at": audit.jsonable(request.created_at),
        "by": by,
        **result,
        "attachments_to_review": review,
    }
