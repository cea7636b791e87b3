"""Slack users as clientbot users: first sight, roles, and who may manage accounts."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from bot.errors import NotFound, ValidationFailed
from bot.models import AuditLog, Role, User
from bot.roles import require
from bot.services import audit


async def resolve(
    session: AsyncSession,
    *,
    slack_user_id: str,
    admins: Collection[str],
    display_name: str | None = None,
    tz: str | None = None,
    email: str | None = None,
    is_guest: bool | None = None,
) -> User:
    """The user for a Slack id, created on first sight: an admin if listed in CLIENTBOT_ADMINS,
    otherwise a recruiter. Race-free when the same new user sends two requests at once."""
    user = await session.scalar(select(User).where(User.slack_user_id == slack_user_id))
    if user is None:
        role = Role.ADMIN if slack_user_id in admins else Role.RECRUITER
        await session.execute(
            dialect_insert(session, User)
            .values(
                id=uuid.uuid4(),
                slack_user_id=slack_user_id,
                display_name=display_name or slack_user_id,
                tz=tz,
                email=email,
                is_guest=bool(is_guest),
                role=role.value,
            )
            .on_conflict_do_nothing(index_elements=["slack_user_id"])
        )
        user = await session.scalar(select(User).where(User.slack_user_id == slack_user_id))
        assert user is not None
    elif slack_user_id in admins and user.role != Role.ADMIN:
        user.role = Role.ADMIN.value
    if display_name and user.display_name != display_name:
        user.display_name = display_name
    if tz and user.tz != tz:
        user.tz = tz
    if is_guest is not None and user.is_guest != is_guest:
        user.is_guest = is_guest
    return user


async def by_slack_id(session: AsyncSession, slack_user_id: str) -> User | None:
    return await session.scalar(select(User).where(User.slack_user_id == slack_user_id))


async def by_reference(session: AsyncSession, reference: str | uuid.UUID) -> User | None:
    """A user by UUID or Slack user id (the API accepts both for `account_manager_id`)."""
    if isinstance(reference, uuid.UUID):
        return await session.get(User, reference)
    try:
        return await session.get(User, uuid.UUID(reference))
    except ValueError:
        return await by_slack_id(session, reference)


async def set_role(
    session: AsyncSession, *, actor: User, target_slack_id: str, role: Role, admins: Collection[str]
) -> User:
    require(actor, Role.ADMIN, "change roles")
    if target_slack_id in admins and role != Role.ADMIN:
        raise ValidationFailed(
            {"role": "This user is listed in CLIENTBOT_ADMINS; remove them there first."},
            "This user is a configured admin.",
        )
    target = await by_slack_id(session, target_slack_id)
    if target is None:
        target = await resolve(session, slack_user_id=target_slack_id, admins=admins)
    if target.role != role.value:
        audit.record(
            session,
            actor=actor,
            action="user.role_changed",
            entity=target,
            before={"role": target.role},
            after={"role": role.value},
        )
        target.role = role.value
    return target


# Users that stand for an integration, not a person in Slack (API tokens, the CLI, email ingest).
SERVICE_PREFIXES = ("api:", "cli:", "email:")


def is_service_account(user: User) -> bool:
    return user.slack_user_id.startswith(SERVICE_PREFIXES)


def may_manage_accounts(user: User) -> bool:
    """A real Slack HR Manager or Admin: not a service account, not a Slack guest."""
    return user.role_enum.rank >= Role.MANAGER.rank and not is_service_account(user) and not user.is_guest


async def account_managers(session: AsyncSession, limit: int = 100) -> list[User]:
    """Users who may be assigned as account manager: real Slack HR Managers and Admins (no service
    accounts such as API tokens or the CLI, no guests)."""
    rows = await session.scalars(
        select(User)
        .where(User.role.in_([Role.MANAGER.value, Role.ADMIN.value]))
        .where(~or_(*(User.slack_user_id.startswith(prefix) for prefix in SERVICE_PREFIXES)))
        .where(User.is_guest.is_(False))
        .order_by(User.display_name)
        .limit(limit)
    )
    return list(rows)


async def get(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


# The audit actions that set a user's role: granted or taken by CLIENTBOT_ADMINS at start, or by an admin.
ADMIN_GRANTED, ADMIN_REVOKED, ROLE_CHANGED = "user.admin_granted", "user.admin_revoked", "user.role_changed"


async def sync_admins(session: AsyncSession, admins: Collection[str]) -> list[tuple[User, str, str]]:
    """Make the admin role follow CLIENTBOT_ADMINS (run at every start): a listed user who is not an admin
    becomes one, their role before recorded in the audit log (`user.admin_granted`); an admin no longer
    listed goes back to the role they had before (recorded then, or given by an admin's `/client role`
    before the list promoted them), or to recruiter, every unknown user's role, when they never had another
    (first seen as a listed admin), recorded as `user.admin_revoked`. An admin made by an admin with
    `/client role` (their latest role entry) is left alone, and so are service accounts (API tokens, the
    command line). Returns (user, role before, role after) per change."""
    changed: list[tuple[User, str, str]] = []
    people = ~or_(*(User.slack_user_id.startswith(prefix) for prefix in SERVICE_PREFIXES))
    listed = set(admins)
    for user in await session.scalars(select(User).where(people).where(User.slack_user_id.in_(listed))):
        if user.role != Role.ADMIN.value:
            changed.append((user, user.role, Role.ADMIN.value))
    for user in await session.scalars(
        select(User)
        .where(people)
        .where(User.role == Role.ADMIN.value)
        .where(User.slack_user_id.not_in(listed))
    ):
        last = await session.scalar(
            select(AuditLog)
            .where(AuditLog.entity_type == User.__tablename__, AuditLog.entity_id == user.id)
            .where(AuditLog.action.in_([ADMIN_GRANTED, ADMIN_REVOKED, ROLE_CHANGED]))
            .order_by(AuditLog.created_at.desc())
            .limit(1)
        )
        if last is None:
            previous = None  # first seen as a listed admin, or promoted by an earlier version
        elif last.action == ADMIN_GRANTED:
            previous = (last.before or {}).get("role")
        else:
            previous = (last.after or {}).get("role")
            if last.action == ROLE_CHANGED and previous == Role.ADMIN.value:
                continue  # made admin by an admin with /client role, not by the list
        fallback = previous if previous in (Role.RECRUITER.value, Role.MANAGER.value) else None
        changed.append((user, Role.ADMIN.value, fallback or Role.RECRUITER.value))
    for user, before, after in changed:
        audit.record(
            session,
            actor=None,
            action=ADMIN_GRANTED if after == Role.ADMIN.value else ADMIN_REVOKED,
            entity=user,
            before={"role": before},
            after={"role": after, "by": "CLIENTBOT_ADMINS"},
        )
        user.role = after
    return changed
