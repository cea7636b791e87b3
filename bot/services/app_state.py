"""Facts about this installation, kept in the `app_state` table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db import dialect_insert
from bot.models import AppState

INSTALLED_AT = "installed_at"


async def installed_at(session: AsyncSession) -> datetime:
    """When this database was installed: its first migrate (migration 0010 records it). Should the row be
    missing, now counts as the install and is recorded, so nothing can reach back past it."""
    statement = select(AppState.value).where(AppState.key == INSTALLED_AT)
    value = await session.scalar(statement)
    if value is None:
        await session.execute(
            dialect_insert(session, AppState)
            .values(key=INSTALLED_AT, value=clock.now().isoformat())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        value = await session.scalar(statement)
    return datetime.fromisoformat(value)
