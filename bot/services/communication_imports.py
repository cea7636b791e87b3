"""Onboarding import of past communications (`clientbot import communications`): stored immutable like any
other record, with source "import" and an `import_key` (a hash of the normalised row), so a re-run writes
nothing twice."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, dialect_insert
from bot.errors import DomainError, ValidationFailed
from bot.models import ClientCommunication, User, utcnow
from bot.services import audit, clients, communications, users
from bot.services.client_imports import (
    BATCH,
    MAX_FILE_BYTES,
    describe_problems,
    header_aliases,
    read_table,
    records,
    require_manager,
    resolve_columns,
    user_by_reference,
)
from bot.services.imports import RowError, database_problem

COMMUNICATION_FIELDS = ("client_code", "type", "date", "subject", "notes", "participants", "logged_by")
COMMUNICATION_HEADERS = header_aliases(
    {
        "client_code": ["client", "client id", "code"],
        "type": ["communication type", "communication_type", "kind"],
        "date": ["communication date", "communication_date", "when"],
        "subject": ["title"],
        "notes": ["note", "body", "description"],
        "participants": ["attendees", "with"],
        "logged_by": ["owner", "logged by", "author"],
    }
)


@dataclass
class CommunicationImportReport:
    dry_run: bool
    rows: int = 0
    created: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    refused_lines: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        return (
            f"{self.rows} rows: {len(self.created)} {verb}created, {len(self.already)} already imported, "
            f"{len(self.refused_lines)} refused" + (" — dry run, nothing written" if self.dry_run else "")
        )

    def lines_text(self) -> list[str]:
        return [f"  refused line {f.line}: {describe_problems(f)}" for f in self.refused_lines]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "counts": {
                "created": len(self.created),
                "already_imported": len(self.already),
                "refused": len(self.refused_lines),
            },
            "refused_lines": [{"line": f.line, "errors": f.errors} for f in self.refused_lines],
        }


_SPLIT = re.compile(r"[;|\n]+")


def _participants(text: str) -> list[dict[str, str]]:
    out = []
    for part in (p.strip() for p in _SPLIT.split(text or "")):
        if not part:
            continue
        if communications.SLACK_USER_ID.fullmatch(part):
            out.append({"slack_user_id": part})
        elif "@" in part and " " not in part:
            out.append({"email": part})
        else:
            out.append({"name": part})
    return out


def _when(text: str, tz: ZoneInfo) -> datetime:
    value = (text or "").strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(12), tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed({"date": "Use an ISO date, e.g. 2026-03-14 or 2026-03-14T09:30."}) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


def import_key(client_id: uuid.UUID, data: communications.CommunicationIn, logged_by: uuid.UUID) -> str:
    """The same row always gives the same key (re-running a file writes nothing twice)."""
    normal = {
        "client": str(client_id),
        "type": data.communication_type.value,
        "date": data.communication_date.astimezone(UTC).isoformat(),
        "subject": " ".join((data.subject or "").split()).casefold(),
        "notes": " ".join((data.notes or "").split()),
        "participants": sorted(
            json.dumps(p.model_dump(exclude_none=True, mode="json"), sort_keys=True)
            for p in data.participants
        ),
        "logged_by": str(logged_by),
    }
    return hashlib.sha256(json.dumps(normal, sort_keys=True).encode()).hexdigest()


async def import_communications(
    db: Database,
    *,
    data: bytes,
    actor_id: uuid.UUID,
    dry_run: bool = False,
    mapping: dict[str, str] | None = None,
    tz: ZoneInfo | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> CommunicationImportReport:
    """Past interactions, stored immutable with source "import" and an `import_key`: each row is its
    own savepoint, and a row already imported (same key) is counted, not written again."""
    await require_manager(db, actor_id, "import communications")
    zone = tz or ZoneInfo("UTC")
    table = read_table(data, max_bytes=max_bytes)
    columns, ignored = resolve_columns(table.header, COMMUNICATION_HEADERS, mapping)
    missing = [f for f in ("client_code", "type", "date") if f not in columns.values()]
    if missing:
        raise ValidationFailed({"file": f"Missing column{'s' * (len(missing) > 1)}: {', '.join(missing)}."})
    report = CommunicationImportReport(dry_run=dry_run, ignored_columns=ignored)
    report.rows = len(table.rows) + len(table.unreadable)
    report.refused_lines.extend(table.unreadable)
    rows = records(table, columns)
    people: dict[str, User | None] = {}
    for start in range(0, len(rows), BATCH):
        async with db.session() as session:
            actor = await users.get(session, actor_id)
            for line, record in rows[start : start + BATCH]:
                try:
                    async with session.begin_nested():
                        created = await _communication_row(session, actor, record, zone, people, dry_run)
                    (report.created if created else report.already).append(line)
                except DomainError as error:
                    fields = getattr(error, "fields", None) or {"row": str(error)}
                    report.refused_lines.append(RowError(line, fields))
                except SQLAlchemyError as error:
                    report.refused_lines.append(RowError(line, {"row": database_problem(error)}))
            if progress:
                progress(min(start + BATCH, len(rows)), len(rows))
    report.refused_lines.sort(key=lambda f: f.line)
    return report


async def _communication_row(
    session: AsyncSession,
    actor: User,
    record: dict[str, str],
    zone: ZoneInfo,
    people: dict[str, User | None],
    dry_run: bool,
) -> bool:
    client = await clients.referenced(session, record.get("client_code", ""), field="client_code")
    author = actor
    if reference := record.get("logged_by"):
        if reference not in people:
            people[reference] = await user_by_reference(session, reference)
        if (author := people[reference]) is None:  # type: ignore[assignment]
            raise ValidationFailed({"logged_by": "No such user (give a Slack id or an email)."})
    data = communications.parse_communication(
        {
            "communication_type": record.get("type", ""),
            "communication_date": _when(record.get("date", ""), zone),
            "subject": record.get("subject"),
            "notes": record.get("notes"),
            "participants": _participants(record.get("participants", "")),
        }
    )
    key = import_key(client.id, data, author.id)
    if await session.scalar(select(ClientCommunication.id).where(ClientCommunication.import_key == key)):
        return False
    if dry_run:
        return True
    statement = (
        dialect_insert(session, ClientCommunication.__table__)
        .values(
            id=uuid.uuid4(),
            client_id=client.id,
            communication_type=data.communication_type.value,
            subject=data.subject,
            notes=data.notes,
            communication_date=data.communication_date,
            participants=[p.model_dump(exclude_none=True, mode="json") for p in data.participants],
            logged_by=author.id,
            is_important=False,
            follow_up_required=False,
            attachments=[],
            created_at=utcnow(),
            source="import",
            import_key=key,
        )
        .on_conflict_do_nothing(index_elements=["import_key"])
        .returning(ClientCommunication.__table__.c.id)
    )
    new_id = await session.scalar(statement)
    if new_id is None:  # imported meanwhile by a concurrent run
        return False
    audit.record(
        session,
        actor=actor,
        action="communication.imported",
        entity=await session.get(ClientCommunication, new_id),
        after={"import_key": key, "client_id": str(client.id), "logged_by": str(author.id)},
    )
    return True
