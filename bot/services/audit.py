"""The audit trail: every write records who, what, when, and the record before and after."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import AuditLog, Base, User


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def snapshot(row: Base | tuple[Any, ...], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row's column values as JSON-safe data (an ORM entity, or a named tuple of its columns)."""
    if isinstance(row, tuple):
        return {key: jsonable(value) for key, value in row._asdict().items() if key not in exclude}  # type: ignore[attr-defined]
    return {
        attr.key: jsonable(getattr(row, attr.key))
        for attr in inspect(row).mapper.column_attrs
        if attr.key not in exclude
    }


def record(
    session: AsyncSession,
    *,
    actor: User | None,
    action: str,
    entity: Base,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        actor_id=actor.id if actor else None,
        action=action,
        entity_type=entity.__tablename__,
        entity_id=getattr(entity, "id", None),
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys that changed (bookkeeping such as updated_at aside), as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k) and k not in _BOOKKEEPING]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


_BOOKKEEPING = frozenset({"updated_at"})


def record_changes(
    session: AsyncSession, *, actor: User | None, action: str, entity: Base, before: dict[str, Any]
) -> dict[str, Any]:
    """Audit what changed on `entity` since the `before` snapshot; nothing when nothing changed.
    Returns the changed values."""
    changed_before, changed_after = changes(before, snapshot(entity))
    if changed_after:
        record(session, actor=actor, action=action, entity=entity, before=changed_before, after=changed_after)
    return changed_after
