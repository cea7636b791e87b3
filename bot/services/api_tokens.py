"""REST API bearer tokens: created once, stored as SHA-256, each acting as a user with the token's role.
Tokens may expire; an operator lists and revokes them (`clientbot api-token list|revoke`)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.errors import Ambiguous, DomainError, NotFound, ValidationFailed
from bot.models import ApiToken, Role, User, utcnow
from bot.services import audit, users

TOKEN_PREFIX = "cbt_"
ID_PREFIX_LENGTH = 8  # how `api-token list` shows a token's id; `revoke` takes it (or more, or the name)
_DURATION = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class TokenRefused(DomainError):
    """A bearer token that is known but may no longer be used: 401 with its own code, so the integration's
    operator sees at once that the token was revoked or has expired (not mistyped)."""

    http_status = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expiry_from(*, expires_in: str | None = None, expires: str | None = None, tz: tzinfo) -> datetime | None:
    """When a new token stops working: `expires_in` is a duration (`90d`, `12w`, `36h`), `expires` a day
    (`YYYY-MM-DD`, the token works until that day starts in the agency's time zone). None: never."""
    if expires_in and expires:
        raise ValidationFailed({"expires": "Give --expires-in or --expires, not both."})
    if expires_in:
        match = _DURATION.match(expires_in)
        if not match or int(match.group(1)) == 0:
            raise ValidationFailed({"expires_in": "Give a duration such as 90d, 12w or 36h."})
        return clock.now() + int(match.group(1)) * _UNIT[match.group(2).lower()]
    if expires:
        try:
            day = date.fromisoformat(expires.strip())
        except ValueError:
            raise ValidationFailed({"expires": "Give the day as YYYY-MM-DD."}) from None
        moment = datetime.combine(day, time(), tzinfo=tz)
        if moment <= clock.now():
            raise ValidationFailed({"expires": "The expiry day must be in the future."})
        return moment
    return None


async def create(
    session: AsyncSession, *, name: str, role: Role, expires_at: datetime | None = None
) -> tuple[str, ApiToken]:
    """A new token (returned once, never stored) and its row."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed({"name": "Give the token a name of 1 to 100 characters."})
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationFailed({"expires": "The expiry must be in the future."})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, token_hash=_digest(token), expires_at=expires_at)
    session.add(row)
    await session.flush()
    return token, row


def state(row: ApiToken) -> str:
    """active, revoked or expired."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= clock.now():
        return "expired"
    return "active"


async def authenticate(session: AsyncSession, token: str) -> User | None:
    """The acting user for a bearer token, or None when it is unknown; TokenRefused when it was revoked or
    has expired. The token's user is a service account (`api:<token id>`) whose role follows the token, so
    audit entries name the token."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    if (refused := state(row)) != "active":
        at = row.revoked_at if refused == "revoked" else row.expires_at
        assert at is not None
        raise TokenRefused(
            f"token_{refused}",
            f"This API token was {refused} on {at:%Y-%m-%d %H:%M} UTC; ask an operator for a new one "
            "(clientbot api-token create).",
        )
    row.last_used_at = utcnow()
    account = await users.resolve(
        session, slack_user_id=f"api:{row.id.hex[:12]}", admins=(), display_name=f"API: {row.name}"[:255]
    )
    account.role = row.role
    return account


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token: never the token or its hash."""

    id_prefix: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str


def info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id_prefix=row.id.hex[:ID_PREFIX_LENGTH],
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        state=state(row),
    )


async def list_tokens(session: AsyncSession) -> list[TokenInfo]:
    rows = await session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.name))
    return [info(row) for row in rows]


async def find(session: AsyncSession, reference: str) -> ApiToken:
    """A token by its id (the UUID, or the hex prefix `api-token list` shows, at least 6 characters) or by
    its exact name; a reference matching several tokens is refused, listing them."""
    reference = reference.strip()
    if not reference:
        raise NotFound("Name the token to revoke: its id prefix (clientbot api-token list) or its name.")
    rows = list(await session.scalars(select(ApiToken).order_by(ApiToken.created_at)))
    try:
        exact = uuid.UUID(reference)
    except ValueError:
        exact = None
    hex_reference = reference.lower().replace("-", "")
    matches = [
        row
        for row in rows
        if row.id == exact
        or (len(hex_reference) >= 6 and row.id.hex.startswith(hex_reference))
        or row.name == reference
    ]
    if not matches:
        raise NotFound(f"No API token with the id or name {reference!r} (see clientbot api-token list).")
    if len(matches) > 1:
        listed = ", ".join(f"{row.id.hex[:ID_PREFIX_LENGTH]} ({row.name})" for row in matches)
        raise Ambiguous(f"{reference!r} matches several tokens: {listed}; give the id prefix.", matches)
    return matches[0]


async def revoke(session: AsyncSession, *, actor: User, reference: str) -> tuple[ApiToken, bool]:
    """Revoke a token at once (its next request gets 401 token_revoked); recorded in the audit log.
    Returns the token and whether it was revoked now (False: it already was)."""
    row = await find(session, reference)
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="api_token.revoked",
        entity=row,
        before={"revoked_at": None},
        after={"revoked_at": audit.jsonable(row.revoked_at), "name": row.name, "role": row.role},
    )
    return row, True
