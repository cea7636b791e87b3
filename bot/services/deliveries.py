"""Remembering what Slack delivered, so that a retry never writes twice."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, inspect, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.db import (
    Converters,
    Driver,
    built_once,
    checked_out,
    converted,
    dialect_name,
    driver_fetchrow,
    insert_of,
    result_converters,
)
from bot.models import SlackDelivery, User, utcnow
from bot.services.users import UserRecord

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


class Receipt(NamedTuple):
    first: bool  # False: this delivery was received before (a retry or a replay)
    sender: Mapping[str, Any] | None  # the sender's stored user (attribute -> value), None if not stored
    driver: Driver | None = None  # the connection it was read on, still checked out (`receive(keep=True)`)


async def receive(
    autocommit_engine: AsyncEngine, key: str, slack_user_id: str | None, *, keep: bool = False
) -> Receipt:
    """Record the delivery `key` and read its sender's stored user, on one pooled connection of an
    autocommit engine (`Database.autocommit_engine`, no BEGIN/COMMIT): every Slack request starts here,
    and the listener's `acting()` takes the user from it (`users.adopt`) instead of reading it again.
    PostgreSQL: one statement, run on a pooled driver connection (`checked_out`: past SQLAlchemy's
    `Connection` and its execution); SQLite: two. `keep`: a first delivery's connection stays
    checked out, for its listener's reads (`Receipt.driver`: the caller releases it)."""
    dialect = autocommit_engine.dialect
    if dialect.name != "postgresql":
        async with autocommit_engine.connect() as conn:
            first = await first_delivery(conn, key)
            row = (await conn.execute(_sender_query(), {"slack_user_id": slack_user_id})).first()
            return Receipt(first, None if row is None else dict(zip(UserRecord._fields, row, strict=True)))
    received_at = _bound_received_at(dialect)(utcnow())
    driver, kept = await checked_out(autocommit_engine), None
    try:
        first, *values = await driver_fetchrow(driver, _RECEIVE_SQL, key, received_at, slack_user_id)
        kept = driver if keep and first else None
    finally:
        if kept is None:
            driver.release()
    sender = dict(zip(UserRecord._fields, converted(values, _user_converters(dialect)), strict=True))
    return Receipt(first, None if sender["id"] is None else sender, kept)


def _user_columns() -> list[Any]:
    mapper = inspect(User)
    return [mapper.get_property(attribute).columns[0] for attribute in UserRecord._fields]


@functools.cache
def _user_converters(dialect: Dialect) -> Converters:
    return result_converters([column.type for column in _user_columns()], dialect)


@functools.cache
def _bound_received_at(dialect: Dialect) -> Any:
    """SQLAlchemy's own conversion of a `received_at` for the driver (stored as naive UTC)."""
    return SlackDelivery.__table__.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)


@built_once
def _sender_query() -> Any:
    return select(*_user_columns()).where(User.slack_user_id == bindparam("slack_user_id"))


# The delivery's INSERT runs whether or not the SELECT reads its result (PostgreSQL runs a data-modifying
# WITH exactly once); the user is read beside it, one row whatever either finds. Column names come from
# the model; the values are bound.
_RECEIVE_SQL = (
    "WITH d AS (INSERT INTO slack_deliveries (key, received_at) VALUES ($1, $2)"
    " ON CONFLICT (key) DO NOTHING RETURNING 1)"
    " SELECT EXISTS (SELECT FROM d), "
    + ", ".join(f"u.{column.name}" for column in _user_columns())
    + " FROM (VALUES (1)) AS one LEFT JOIN users AS u ON u.slack_user_id = $3"
)


async def forget_old(session: AsyncSession) -> int:
    result = await session.execute(delete(SlackDelivery).where(SlackDelivery.received_at < utcnow() - KEEP))
    return result.rowcount or 0
