"""Slack users as clientbot users: first sight, roles, and who may manage accounts."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict

from bot.db import built_once, dialect_insert, record_type
from bot.errors import NotFound, PermissionDenied, ValidationFailed
from bot.models import AuditLog, Client, ClientStatus, Role, User, utcnow
from bot.roles import require
from bot.services import audit

# A stored profile (guest, deactivated, bot, team) older than this is read from Slack again.
PROFILE_MAX_AGE = timedelta(days=1)


@dataclass(frozen=True)
class Organisation:
    """The organisation clientbot is installed in (Slack's auth.test): a workspace, and its Enterprise
    Grid organisation when there is one."""

    team_id: str | None
    enterprise_id: str | None = None

    def includes(self, *, team_id: str | None, enterprise_id: str | None) -> bool:
        """Whether a user of `team_id` / `enterprise_id` belongs here. On Enterprise Grid every workspace of
        the same enterprise does; a Slack Connect user has another team (and enterprise) id."""
        if enterprise_id and self.enterprise_id:
            return enterprise_id == self.enterprise_id
        if enterprise_id and not self.enterprise_id:
            return False
        return team_id is None or team_id == self.team_id


@dataclass(frozen=True)
class SlackProfile:
    """What Slack says about a user (users.info, or the `user` of a user_change / team_join event)."""

    slack_user_id: str
    display_name: str | None = None
    tz: str | None = None
    email: str | None = None
    is_guest: bool = False
    is_deleted: bool = False
    is_bot: bool = False
    team_id: str | None = None
    enterprise_id: str | None = None


class AccessRefused(PermissionDenied):
    """This Slack user may not use clientbot, or Slack can't tell us who they are (`reason`: unknown,
    external, bot, deactivated). Raised before any client data is read."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"clientbot can't serve this Slack user ({reason}).")
        self.reason = reason


def refusal(who: User | SlackProfile, home: Organisation) -> str | None:
    """Why `who` may not use clientbot at all, or None. Guests are let in but see no client data (the
    services check `is_guest`)."""
    if who.is_bot:
        return "bot"
    if who.is_deleted:
        return "deactivated"
    if not home.includes(team_id=who.team_id, enterprise_id=who.enterprise_id):
        return "external"
    return None


def check_origin(home: Organisation, *, team_ids: Collection[str], enterprise_id: str | None) -> None:
    """Refuse a request whose payload says the user belongs to another team or enterprise (Slack Connect,
    or a forged payload), before anything is read."""
    if any(not home.includes(team_id=t, enterprise_id=enterprise_id) for t in team_ids) or (
        not team_ids and not home.includes(team_id=None, enterprise_id=enterprise_id)
    ):
        raise AccessRefused("external")


def admit(user: User | None, home: Organisation) -> User:
    """The acting user, if they may use clientbot; AccessRefused otherwise."""
    if user is None:
        raise AccessRefused("unknown")
    reason = refusal(user, home)
    if reason:
        raise AccessRefused(reason)
    return user


def stale(user: User | None) -> bool:
    """Whether the stored profile must be read from Slack again (first sight, or older than a day)."""
    return (
        user is None
        or user.profile_checked_at is None
        or user.profile_checked_at < utcnow() - PROFILE_MAX_AGE
    )


@dataclass(frozen=True)
class Departure:
    """A deactivated account manager's clients, for the HR Admins to reassign."""

    slack_user_id: str
    display_name: str
    clients: list[tuple[str, str]]  # (client code, name)
    admins: list[str] = field(default_factory=list)  # Slack ids of the HR Admins to tell


async def learn(
    session: AsyncSession,
    *,
    profile: SlackProfile,
    admins: Collection[str],
    home: Organisation,
    create: bool = True,
) -> tuple[User | None, Departure | None]:
    """Store what Slack says about a user, now. A user seen for the first time is created only when
    `create` and they may use clientbot (no rows for outsiders or bots). Learning that a user was
    deactivated takes their role away (audited) and returns the clients they managed for reassignment."""
    user = await by_slack_id(session, profile.slack_user_id)
    if user is None:
        if not create or refusal(profile, home):
            return None, None
        user = await resolve(
            session,
            slack_user_id=profile.slack_user_id,
            admins=admins,
            display_name=profile.display_name,
            tz=profile.tz,
            email=profile.email,
            is_guest=profile.is_guest,
        )
    if profile.display_name:
        user.display_name = profile.display_name
    user.tz = profile.tz or user.tz
    user.email = profile.email or user.email
    user.is_guest, user.is_bot = profile.is_guest, profile.is_bot
    user.team_id, user.enterprise_id = profile.team_id, profile.enterprise_id
    user.profile_checked_at = utcnow()
    departure = None
    if profile.is_deleted and not user.is_deleted:
        departure = await deactivate(session, user, admins=admins)
    elif not profile.is_deleted and user.is_deleted:
        user.is_deleted = False  # reactivated in Slack: back as a recruiter until an admin gives a role
    return user, departure


async def deactivate(session: AsyncSession, user: User, *, admins: Collection[str]) -> Departure:
    """Slack says `user` is deactivated: no role (audited like a role change), no DMs, out of every
    picker; the clients they manage are listed for the HR Admins to reassign."""
    if not user.is_deleted:
        audit.record(
            session,
            actor=None,
            action="user.deactivated",
            entity=user,
            before={"role": user.role, "is_deleted": False},
            after={"role": Role.RECRUITER.value, "is_deleted": True},
        )
    user.is_deleted = True
    user.role = Role.RECRUITER.value
    managed = await session.execute(
        select(Client.client_code, Client.name)
        .where(Client.account_manager_id == user.id)
        .where(Client.status != ClientStatus.ARCHIVED.value)
        .order_by(Client.client_code)
    )
    return Departure(
        slack_user_id=user.slack_user_id,
        display_name=user.display_name,
        clients=[(code, name) for code, name in managed.all()],
        admins=await admin_ids(session, admins=admins, leaving=user.slack_user_id),
    )


async def admin_ids(
    session: AsyncSession, *, admins: Collection[str], leaving: str | None = None
) -> list[str]:
    """Slack ids of the HR Admins who can be told things: admins in the database that are active people,
    plus those configured in CLIENTBOT_ADMINS that are not known to be deactivated."""
    rows = await session.execute(
        select(User.slack_user_id, User.role, User.is_deleted, User.is_bot).where(
            or_(User.role == Role.ADMIN.value, User.slack_user_id.in_(list(admins)))
        )
    )
    found = {sid: (role, deleted or bot) for sid, role, deleted, bot in rows.all()}
    ids = {sid for sid, (role, gone) in found.items() if role == Role.ADMIN.value and not gone}
    ids |= {sid for sid in admins if not found.get(sid, ("", False))[1]}
    ids = {sid for sid in ids if not sid.startswith(SERVICE_PREFIXES)}
    ids.discard(leaving or "")
    return sorted(ids)


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
    else:
        promote_configured_admin(user, admins)
    if display_name and user.display_name != display_name:
        user.display_name = display_name
    if tz and user.tz != tz:
        user.tz = tz
    if is_guest is not None and user.is_guest != is_guest:
        user.is_guest = is_guest
    return user


def promote_configured_admin(user: User, admins: Collection[str]) -> None:
    """Users listed in CLIENTBOT_ADMINS are HR Admins (unless deactivated in Slack)."""
    if user.slack_user_id in admins and user.role != Role.ADMIN and not user.is_deleted:
        user.role = Role.ADMIN.value


# A user's stored columns (a client's account manager on its card; the sender `deliveries.receive` reads).
UserRecord = record_type(User, "UserRecord", __name__)


def adopt(session: AsyncSession, attributes: Mapping[str, Any] | None) -> User | None:
    """The user whose stored attributes were read in another statement (`deliveries.receive`), made part
    of `session` as if it had loaded them itself: a change to it is flushed as an UPDATE."""
    if attributes is None:
        return None
    user = _USERS.new_instance()
    instance_dict(user).update(attributes)  # as a loader fills it: no change events (~15 µs less)
    make_transient_to_detached(user)
    session.add(user)
    return user


_USERS = class_mapper(User).class_manager


async def by_slack_id(session: AsyncSession, slack_user_id: str) -> User | None:
    return await session.scalar(_by_slack_id_query(), {"slack_user_id": slack_user_id})


@built_once
def _by_slack_id_query() -> Any:
    return select(User).where(User.slack_user_id == bindparam("slack_user_id"))


async def by_reference(session: AsyncSession, reference: str | uuid.UUID) -> User | None:
    """A user by UUID or Slack user id (the API accepts both for `account_manager_id`)."""
    if isinstance(reference, uuid.UUID):
        return await session.get(User, reference)
    try:
        return await session.get(User, uuid.UUID(reference))
    except ValueError:
        return await by_slack_id(session, reference)


REFUSED_ROLE = {
    "unknown": "Slack can't tell clientbot who {who} is (not found, or not visible to the app), so no role "
    "was given. Check the mention, or try again in a minute.",
    "deactivated": "{who} is deactivated in Slack: a deactivated user can't be given a role.",
    "bot": "{who} is a bot or app: only people can be given a role.",
    "external": "{who} belongs to another organisation (Slack Connect): only members of this organisation "
    "can be given a role.",
}


async def set_role(
    session: AsyncSession,
    *,
    actor: User,
    target_slack_id: str,
    role: Role,
    admins: Collection[str],
    profile: SlackProfile | None = None,
    home: Organisation | None = None,
) -> User:
    """Give `target_slack_id` a role. With `home`, what Slack says of the target (`profile`, None when
    Slack couldn't tell) must show a person of this organisation who is not deactivated."""
    require(actor, Role.ADMIN, "change roles")
    if home is not None:
        reason = "unknown" if profile is None else refusal(profile, home)
        if reason:
            who = f"<@{target_slack_id}>"
            raise ValidationFailed(
                {"user": REFUSED_ROLE[reason].format(who=who)}, "This user can't have a role."
            )
    if target_slack_id in admins and role != Role.ADMIN:
        raise ValidationFailed(
            {"role": "This user is listed in CLIENTBOT_ADMINS; remove them there first."},
            "This user is a configured admin.",
        )
    target = await by_slack_id(session, target_slack_id)
    if profile is not None and home is not None:  # fresh from Slack: store it
        target, _ = await learn(session, profile=profile, admins=admins, home=home)
    elif target is not None and target.is_deleted:
        raise ValidationFailed(
            {"user": REFUSED_ROLE["deactivated"].format(who=f"<@{target_slack_id}>")},
            "This user can't have a role.",
        )
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
    return (
        user.role_enum.rank >= Role.MANAGER.rank
        and not is_service_account(user)
        and not (user.is_guest or user.is_deleted or user.is_bot)
    )


async def account_managers(session: AsyncSession, limit: int = 100) -> list[User]:
    """Users who may be assigned as account manager: real Slack HR Managers and Admins (no service
    accounts such as API tokens or the CLI, no guests, no deactivated accounts, no bots)."""
    rows = await session.scalars(
        select(User)
        .where(User.role.in_([Role.MANAGER.value, Role.ADMIN.value]))
        .where(~or_(*(User.slack_user_id.startswith(prefix) for prefix in SERVICE_PREFIXES)))
        .where(User.is_guest.is_(False), User.is_deleted.is_(False), User.is_bot.is_(False))
        .order_by(User.display_name)
        .limit(limit)
    )
    return list(rows)


async def admin_slack_ids(session: AsyncSession, *, admins: Collection[str]) -> list[str]:
    """Who hears about problems only an HR Admin can fix (e.g. a digest channel without the bot): the
    CLIENTBOT_ADMINS and every admin in Slack, each once; no service accounts, no guests, nobody
    deactivated in Slack."""
    rows = await session.execute(
        select(User.slack_user_id, User.role == Role.ADMIN.value, User.is_guest | User.is_deleted).where(
            or_(User.role == Role.ADMIN.value, User.slack_user_id.in_(list(admins)))
        )
    )
    known = {slack_id: (is_admin, barred) for slack_id, is_admin, barred in rows}
    chosen = {s for s, (is_admin, barred) in known.items() if is_admin and not barred}
    chosen |= {s for s in admins if not known.get(s, (False, False))[1]}
    return sorted(s for s in chosen if not s.startswith(SERVICE_PREFIXES))


async def who_can(
    session: AsyncSession, needed: Role, *, admins: Collection[str], limit: int = 5
) -> list[str]:
    """Slack ids of people holding `needed` (or above) to ask, for a refusal to name: HR Admins for admin
    work, HR Managers and Admins otherwise; real, active people only."""
    if needed == Role.ADMIN:
        return (await admin_slack_ids(session, admins=admins))[:limit]
    return [u.slack_user_id for u in await account_managers(session, limit=limit)]


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
