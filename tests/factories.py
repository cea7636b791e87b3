"""Test data builders that go through the real services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.models import Client, ClientCommunication, Role, User
from bot.services import clients, users

ADMINS = frozenset({"UADMIN"})


async def user(
    session: AsyncSession, slack_id: str, role: Role = Role.RECRUITER, name: str | None = None
) -> User:
    person = await users.resolve(
        session, slack_user_id=slack_id, admins=ADMINS, display_name=name or slack_id
    )
    person.role = role.value
    await session.flush()
    return person


def client_input(name: str = "Tech Corp Inc.", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "industry": "Information Technology",
        "website": "https://techcorp.example.com",
        "address": "123 Tech Street",
        "city": "San Francisco",
        "state": "CA",
        "country": "USA",
        "postal_code": "94102",
        "contacts": [
            {
                "full_name": "John Doe",
                "title": "HR Director",
                "email": "john@techcorp.example.com",
                "phone": "+1 415 555 2671",
                "is_primary": True,
            },
        ],
    }
    data.update(overrides)
    return data


async def client(
    session: AsyncSession, actor: User, name: str = "Tech Corp Inc.", **overrides: Any
) -> Client:
    data = clients.parse_client(client_input(name, **overrides))
    return await clients.create(session, actor=actor, data=data, confirm_duplicate=True)


async def acme_with_team(db: Database) -> Client:
    """The usual cast of the Slack tests: "Acme", managed by UMANAGER, with URECRUITER known too."""
    async with db.session() as session:
        manager = await user(session, "UMANAGER", Role.MANAGER)
        await user(session, "URECRUITER", Role.RECRUITER)
        return await client(session, manager, "Acme")


async def stored_communications(db: Database) -> list[ClientCommunication]:
    async with db.session() as session:
        return list(await session.scalars(select(ClientCommunication)))
