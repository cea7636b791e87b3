"""REST API bearer tokens: created once, stored as SHA-256, each acting as a user with the token's role."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationFailed
from bot.models import ApiToken, Role, User, utcnow
from bot.services import users

TOKEN_PREFIX = "cbt_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(session: AsyncSession, *, name: str, role: Role) -> tuple[str, ApiToken]:
    """A new token (returned once, never stored) and its row."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed({"name": "Give the token a name of 1 to 100 characters."})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, token_hash=_digest(token))
    session.add(row)
    await session.flush()
    return token, row


async def authenticate(session: AsyncSession, token: str) -> User | None:
    """The acting user for a bearer token, or None when it is unknown or revoked. The token's user is a
    service account (`api:<token id>`) whose role follows the token, so audit entries name the token."""
    row = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    row.last_used_at = utcnow()
    account = await users.resolve(
        session, slack_user_id=f"api:{row.id.hex[:12]}", admins=(), display_name=f"API: {row.name}"[:255]
    )
    account.role = row.role
    return account
