"""Channel subscriptions: a channel follows a client and gets its events posted there.

Exactly once, across replicas and restarts (the transactional outbox):
- `publish` is called by the service that makes the change (status, hire, important communication,
  finalised feedback, health) in the same session: one `subscription_outbox` row per subscription that
  wants the event, committed with the change or not at all.
- The scheduler's `subscription_posts` job reads the rows not yet delivered and sends each through
  `scheduler.deliver` (a claim in scheduled_runs, committed before the post; released when the post
  fails, so a later run retries it), then marks it delivered with the message's ts.
- Slack saying the bot cannot post there (not_in_channel, channel_not_found, is_archived) disables the
  subscription (audited) and drops what it still owed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.db import dialect_insert
from bot.errors import NotFound, ValidationFailed
from bot.models import (
    ChannelSubscription,
    Client,
    Role,
    ScheduledRun,
    SubscriptionEvent,
    SubscriptionOutbox,
    SubscriptionThread,
    User,
    utcnow,
)
from bot.roles import require
from bot.services import audit, clients

ALL_EVENTS = tuple(SubscriptionEvent)
ALIASES = {
    "all": ALL_EVENTS,
    "status": (SubscriptionEvent.STATUS,),
    "statuses": (SubscriptionEvent.STATUS,),
    "hire": (SubscriptionEvent.HIRE,),
    "hires": (SubscriptionEvent.HIRE,),
    "important": (SubscriptionEvent.IMPORTANT,),
    "communications": (SubscriptionEvent.IMPORTANT,),
    "feedback": (SubscriptionEvent.FEEDBACK,),
    "health": (SubscriptionEvent.HEALTH,),
}
# Payload keys that are the agency's private figures: only posted into the workspace's own channels.
# Health `reasons` may quote feedback scores ("feedback 4.2 → 3.1"): a health publisher passes what may be
# shown anywhere as `public_reasons`.
PRIVATE_KEYS = frozenset({"fee", "revenue", "scores", "overall", "score", "reasons"})
PENDING_BATCH = 200
CLAIM_JOB = "subscription_posts"  # the scheduler's job, and its claims' `job` in scheduled_runs
CLAIMS_KEPT = timedelta(days=2)


def parse_events(words: Iterable[str]) -> list[SubscriptionEvent]:
    """`hires status` -> [HIRE, STATUS] (in the enum's order); none given: every event."""
    chosen: set[SubscriptionEvent] = set()
    unknown = []
    for word in words:
        for part in word.lower().split(","):
            if not part:
                continue
            if part not in ALIASES:
                unknown.append(part)
            else:
                chosen.update(ALIASES[part])
    if unknown:
        known = ", ".join(e.value for e in ALL_EVENTS)
        raise ValidationFailed(
            {"events": f"Unknown event {', '.join(unknown)[:100]}: choose among {known} (or all)."}
        )
    return [e for e in ALL_EVENTS if e in chosen] or list(ALL_EVENTS)


@dataclass(frozen=True)
class ChannelState:
    """What Slack says about the channel a subscription is made in (conversations.info)."""

    channel_id: str
    error: str | None = None  # conversations.info's error, e.g. channel_not_found
    is_member: bool = False
    is_archived: bool = False
    is_im: bool = False


def _check_channel(channel: ChannelState) -> None:
    """A clear refusal when the bot could not post into the channel."""
    if channel.is_im or channel.channel_id[:1] in ("D", "U", "W"):
        raise ValidationFailed({"channel": "Subscribe in a channel, not in a direct message."})
    if channel.error:
        raise ValidationFailed(
            {
                "channel": "I can't see this channel (it is private and I'm not in it, or it was deleted):"
                " type `/invite @clientbot` in it first."
            }
        )
    if channel.is_archived:
        raise ValidationFailed({"channel": "This channel is archived: nothing can be posted here."})
    if not channel.is_member:
        raise ValidationFailed(
            {"channel": "I'm not a member of this channel: type `/invite @clientbot` here, then subscribe."}
        )


async def subscribe(
    session: AsyncSession,
    *,
    actor: User,
    channel: ChannelState,
    reference: str,
    events: list[SubscriptionEvent],
) -> tuple[ChannelSubscription, bool]:
    """Subscribe the channel to the client's `events` (HR Managers and Admins); subscribing again changes
    the events and re-enables a disabled subscription. Returns (subscription, created)."""
    require(actor, Role.MANAGER, "subscribe channels to clients")
    _check_channel(channel)
    client = await clients.find(session, reference, viewer=actor)
    sub = await session.scalar(
        select(ChannelSubscription).where(
            ChannelSubscription.channel_id == channel.channel_id, ChannelSubscription.client_id == client.id
        )
    )
    values = [e.value for e in events]
    if sub is None:
        sub = ChannelSubscription(
            id=uuid.uuid4(),
            channel_id=channel.channel_id,
            client_id=client.id,
            events=values,
            created_by=actor.id,
        )
        session.add(sub)
        await session.flush()
        audit.record(
            session, actor=actor, action="subscription.created", entity=sub, after=audit.snapshot(sub)
        )
        created = True
    else:
        before = audit.snapshot(sub)
        sub.events, sub.disabled_at, sub.disabled_reason = values, None, None
        await session.flush()
        audit.record_changes(session, actor=actor, action="subscription.updated", entity=sub, before=before)
        created = False
    sub.client = client
    return sub, created


async def unsubscribe(
    session: AsyncSession, *, actor: User, channel_id: str, reference: str
) -> ChannelSubscription:
    """Stop posting the client's events here (HR Managers and Admins); what was still owed is dropped."""
    require(actor, Role.MANAGER, "unsubscribe channels from clients")
    client = await clients.find(session, reference, viewer=actor)
    sub = await session.scalar(
        select(ChannelSubscription).where(
            ChannelSubscription.channel_id == channel_id,
            ChannelSubscription.client_id == client.id,
            ChannelSubscription.disabled_at.is_(None),
        )
    )
    if sub is None:
        raise NotFound(f"This channel is not subscribed to {client.client_code}.")
    await _disable(session, sub, reason="unsubscribed", actor=actor)
    sub.client = client
    return sub


async def in_channel(session: AsyncSession, *, actor: User, channel_id: str) -> list[ChannelSubscription]:
    """The channel's active subscriptions, to clients the actor may see."""
    clients.require_any_view(actor)
    rows = await session.scalars(
        select(ChannelSubscription)
        .join(Client, Client.id == ChannelSubscription.client_id)
        .where(
            ChannelSubscription.channel_id == channel_id,
            ChannelSubscription.disabled_at.is_(None),
            clients.visible_to(actor),
        )
        .options(selectinload(ChannelSubscription.client))
        .order_by(Client.client_code)
    )
    return list(rows)


async def publish(session: AsyncSession, client: Client, event: SubscriptionEvent, **details: Any) -> int:
    """Owe each channel subscribed to `client`'s `event` a post about it, in the caller's transaction
    (so the post goes out exactly when the change is committed). `details` are JSON-safe facts for the
    post; those named in PRIVATE_KEYS are only shown in the workspace's own channels. Returns how many
    posts are owed. The health service calls it with SubscriptionEvent.HEALTH (before, after, score,
    reasons, and public_reasons: the reasons that quote no private figure)."""
    return await publish_many(session, event, [(client, details)])


async def publish_many(
    session: AsyncSession, event: SubscriptionEvent, items: Sequence[tuple[Client, dict[str, Any]]]
) -> int:
    """`publish` for many clients at once (the nightly health snapshot), one query per 1,000 clients."""
    owed = 0
    for start in range(0, len(items), 1000):
        chunk = {client.id: (client, details) for client, details in items[start : start + 1000]}
        subs = await session.scalars(
            select(ChannelSubscription).where(
                ChannelSubscription.client_id.in_(list(chunk)), ChannelSubscription.disabled_at.is_(None)
            )
        )
        for sub in subs:
            if event.value not in (sub.events or []):
                continue
            client, details = chunk[sub.client_id]
            payload = {"client_code": client.client_code, "client_name": client.name} | {
                k: audit.jsonable(v) for k, v in details.items()
            }
            session.add(SubscriptionOutbox(subscription_id=sub.id, event=event.value, payload=payload))
            owed += 1
    return owed


async def followers(session: AsyncSession, event: SubscriptionEvent) -> set[uuid.UUID]:
    """Ids of the clients some active subscription wants `event` of: lets a publisher working on many
    clients at once (the nightly health snapshot) call `publish` only for those (one row per channel and
    client: a small table, filtered here as `events` is a JSON list)."""
    rows = await session.execute(
        select(ChannelSubscription.client_id, ChannelSubscription.events).where(
            ChannelSubscription.disabled_at.is_(None)
        )
    )
    return {client_id for client_id, events in rows if event.value in (events or [])}


@dataclass(frozen=True)
class Pending:
    """One post owed, with where it goes."""

    id: int
    subscription_id: uuid.UUID
    channel_id: str
    client_id: uuid.UUID
    event: str
    payload: dict[str, Any]
    created_at: datetime


async def pending(session: AsyncSession, limit: int = PENDING_BATCH) -> list[Pending]:
    """Posts not delivered yet, oldest first."""
    rows = await session.execute(
        select(SubscriptionOutbox, ChannelSubscription.channel_id, ChannelSubscription.client_id)
        .join(ChannelSubscription, ChannelSubscription.id == SubscriptionOutbox.subscription_id)
        .where(SubscriptionOutbox.delivered_at.is_(None), ChannelSubscription.disabled_at.is_(None))
        .order_by(SubscriptionOutbox.id)
        .limit(limit)
    )
    return [
        Pending(o.id, o.subscription_id, channel, client_id, o.event, o.payload, o.created_at)
        for o, channel, client_id in rows
    ]


async def thread_for(session: AsyncSession, item: Pending, week: str) -> str | None:
    return await session.scalar(
        select(SubscriptionThread.thread_ts).where(
            SubscriptionThread.channel_id == item.channel_id,
            SubscriptionThread.client_id == item.client_id,
            SubscriptionThread.week == week,
        )
    )


async def delivered(session: AsyncSession, item: Pending, *, ts: str, week: str, new_thread: bool) -> None:
    """Mark the post sent; the first post of the week starts the client's thread in that channel."""
    await session.execute(
        update(SubscriptionOutbox)
        .where(SubscriptionOutbox.id == item.id)
        .values(delivered_at=utcnow(), outcome="posted", message_ts=ts)
    )
    if new_thread:
        await session.execute(
            dialect_insert(session, SubscriptionThread)
            .values(
                id=uuid.uuid4(),
                channel_id=item.channel_id,
                client_id=item.client_id,
                week=week,
                thread_ts=ts,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["channel_id", "client_id", "week"])
        )


async def channel_gone(session: AsyncSession, subscription_id: uuid.UUID, error: str) -> None:
    """Slack says the bot cannot post into the subscription's channel: disable it (audited, no actor)."""
    sub = await session.get(ChannelSubscription, subscription_id)
    if sub is not None and sub.disabled_at is None:
        await _disable(session, sub, reason=f"slack: {error}", actor=None)


async def _disable(
    session: AsyncSession, sub: ChannelSubscription, *, reason: str, actor: User | None
) -> None:
    before = audit.snapshot(sub)
    sub.disabled_at, sub.disabled_reason = utcnow(), reason[:100]
    await session.execute(
        update(SubscriptionOutbox)
        .where(SubscriptionOutbox.subscription_id == sub.id, SubscriptionOutbox.delivered_at.is_(None))
        .values(delivered_at=utcnow(), outcome=f"dropped: {reason}"[:100])
    )
    await session.flush()
    action = "subscription.removed" if actor else "subscription.disabled"
    audit.record_changes(session, actor=actor, action=action, entity=sub, before=before)


def public(payload: dict[str, Any], *, private: bool) -> dict[str, Any]:
    """The payload as a channel may see it: private figures left out unless `private` (an internal
    channel)."""
    return payload if private else {k: v for k, v in payload.items() if k not in PRIVATE_KEYS}


async def forget_old_claims(session: AsyncSession) -> int:
    """Nightly: drop delivery claims older than two days. A post claimed that long ago but never marked
    (the process died between Slack's answer and the bookkeeping) is closed as unconfirmed rather than
    sent again: a post may then be missing, never doubled. Returns how many claims went."""
    claims = (
        await session.execute(
            select(ScheduledRun.id, ScheduledRun.period_key).where(
                ScheduledRun.job == CLAIM_JOB, ScheduledRun.started_at < utcnow() - CLAIMS_KEPT
            )
        )
    ).all()
    for start in range(0, len(claims), 1000):
        chunk = claims[start : start + 1000]
        ids = [int(key.rsplit(":", 1)[1]) for _, key in chunk if key.rsplit(":", 1)[1].isdigit()]
        await session.execute(
            update(SubscriptionOutbox)
            .where(SubscriptionOutbox.id.in_(ids), SubscriptionOutbox.delivered_at.is_(None))
            .values(delivered_at=utcnow(), outcome="unconfirmed: claimed, Slack's answer not recorded")
        )
        await session.execute(delete(ScheduledRun).where(ScheduledRun.id.in_([i for i, _ in chunk])))
    return len(claims)
