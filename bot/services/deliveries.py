"""Remembering what Slack delivered, so that a retry never writes twice."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.db import built_once, dialect_name, insert_of
from bot.models import SlackDelivery, utcnow

KEEP = timedelta(days=2)


# Requests that change nothing and may legitimately repeat byte for byte (typing the same text into a
# type-ahead twice sends the same options request): never de-duplicated, and nothing written for them.
UNRECORDED = ("url_verification", "ssl_check", "block_suggestion", "dialog_suggestion")


def delivery_key(body: dict, raw_body: str) -> str | None:
    """An event's id, or a digest of an interaction's or command's exact body. Slack makes every delivery
    unique (a command's or an action's `trigger_id`, an action's `action_ts`, a view submission's
    `trigger_id` and state), so a second body with the same digest is a retry or a replay, never a new
    request. (A view's id and hash are not such a key: resubmitting a modal after its validation errors
    keeps both.)"""
    if body.get("type") in UNRECORDED:
        return None
    if body.get("event_id"):
        return f"event:{body['event_id']}"[:64]
    return hashlib.sha256(raw_body.encode()).hexdigest()


# Payloads whose ack says nothing (an empty 200): commands, button clicks and menu picks. They are acked
# first and recorded after; anything else (a view submission's ack carries a response_action) is
# recorded before its ack, in one statement.
ACKED_FIRST = ("block_actions", "interactive_message")


def acked_first(body: dict) -> bool:
    """Whether a redelivery of this payload is recognised after its (empty) ack rather than before."""
    return body.get("type") in ACKED_FIRST or ("command" in body and "type" not in body)


async def first_delivery(session: AsyncSession | AsyncConnection, key: str) -> bool:
    """Record `key`; False when it was already recorded (this is a redelivery)."""
    result = await session.execute(
        _record_query(dialect_name(session)), {"key": key, "received_at": utcnow()}
    )
    return result.scalar_one_or_none() is not None


@built_once
def _record_query(dialect: str) -> Any:
    return (
        insert_of(dialect, SlackDelivery)
        .values(key=bindparam("key"), received_at=bindparam("received_at"))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(SlackDelivery.key)
    )


async def record(autocommit_engine: AsyncEngine, key: str) -> bool:
    """`first_delivery` in one round trip: one statement on a pooled connection of an autocommit engine
    (`Database.autocommit_engine`), no BEGIN/COMMIT around it."""
    async with autocommit_engine.connect() as conn:
        return await first_delivery(conn, key)


async def forget_old(session: AsyncSession) -> int:
    result = await session.execute(delete(SlackDelivery).where(SlackDelivery.received_at < utcnow() - KEEP))
    return result.rowcount or 0
