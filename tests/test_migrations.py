"""The migration history itself: data migrations do what they say on a database that already has rows."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import column, select, table

from bot.db import Database, _alembic_config
from bot.models import Client, User, utcnow

USERS_0006 = {"id", "slack_user_id", "display_name", "role", "created_at", "updated_at"}
CLIENTS_ADDED_SINCE_0006 = {"logo_slack_file_id", "is_hot"}


async def test_client_names_are_renormalised_for_duplicate_detection(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    db = Database(url)

    def upgrade(connection, revision: str) -> None:
        config = _alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade, "0006")
            user_id = uuid.uuid4()
            # The users table as it was at 0006 (the model has columns added since).
            users_0006 = table(
                "users", *(column(c.name, c.type) for c in User.__table__.c if c.name in USERS_0006)
            )
            await conn.execute(
                users_0006.insert().values(
                    id=user_id,
                    slack_user_id="U1",
                    display_name="A",
                    role="admin",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            clients_0006 = table(
                "clients",
                *(
                    column(c.name, c.type)
                    for c in Client.__table__.c
                    if c.name not in CLIENTS_ADDED_SINCE_0006
                ),
            )
            for code, name, stale in (
                ("CLT-2026-0001", "Acme L.L.C.", "acme l l c"),
                ("CLT-2026-0002", "Globex", "globex"),
            ):
                await conn.execute(
                    clients_0006.insert().values(
                        id=uuid.uuid4(),
                        client_code=code,
                        name=name,
                        name_normalized=stale,
                        status="active",
                        created_by=user_id,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
            await conn.run_sync(upgrade, "head")
            names = dict((await conn.execute(select(Client.name, Client.name_normalized))).all())
        assert names == {"Acme L.L.C.": "acme", "Globex": "globex"}
    finally:
        await db.dispose()
