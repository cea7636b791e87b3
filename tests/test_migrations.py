"""The migration history itself: data migrations do what they say on a database that already has rows."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import column, inspect, select, table

from bot.db import Database, _alembic_config
from bot.models import Client, Job, User, utcnow

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


async def test_jobs_carry_the_models_indexes_with_the_health_figures_included(rt, is_postgres) -> None:
    """Migration 0023: the client index on jobs includes what a client's health reads (PostgreSQL), and
    replaces the plain one; the migrated schema's indexes are the model's."""

    def indexes(connection) -> dict[str, dict]:
        found = inspect(connection).get_indexes("jobs")  # PostgreSQL's also name the unique constraints'
        return {index["name"]: index for index in found if not index.get("duplicates_constraint")}

    async with rt.db.engine.connect() as conn:
        found = await conn.run_sync(indexes)
    assert set(found) == {index.name for index in Job.__table__.indexes}, sorted(found)
    figures = found["idx_jobs_client_figures"]
    assert figures["column_names"] == ["client_id"]
    if is_postgres:
        included = figures["dialect_options"]["postgresql_include"]
        assert included == ["status", "opened_at", "filled_at", "pipeline_moved_at"]
