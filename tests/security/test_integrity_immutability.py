"""Issue 11 item 6: communications stay immutable against raw SQL, not only through the app. Each test
attacks the database the way someone with the app's database credentials (or a sloppy script) would."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.db import Database, migrate
from bot.models import ClientCommunication, Role
from bot.services import clients, communications, deliveries
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.test_communications import entry

PROJECT = str(Path(__file__).resolve().parents[2])


async def _logged(db: Database) -> ClientCommunication:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
        return await communications.log(session, actor=manager, client_id=acme.id, data=entry())


def _id(db: Database, record: ClientCommunication) -> str:
    return str(record.id) if db.is_postgres else record.id.hex  # SQLite stores UUIDs as 32 hex digits


async def _refused(db: Database, statement: str, params: dict | None = None, match: str = "immutable"):
    with pytest.raises((DBAPIError, IntegrityError)) as caught:
        async with db.engine.begin() as conn:
            await conn.execute(text(statement), params or {})
    assert any(m in str(caught.value) for m in match.split("|")), caught.value


async def _notes(db: Database, record: ClientCommunication) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(ClientCommunication.notes)))


async def test_truncate_is_refused_also_when_another_table_cascades_into_it(db) -> None:
    """On main there was no TRUNCATE trigger: `TRUNCATE client_communications CASCADE` (or truncating the
    clients or users it references, with CASCADE) deleted every record at once."""
    if not db.is_postgres:
        pytest.skip("SQLite has no TRUNCATE (its DELETE trigger refuses `DELETE FROM` without WHERE)")
    record = await _logged(db)
    for statement in (
        "TRUNCATE client_communications",
        "TRUNCATE client_communications CASCADE",
        "TRUNCATE clients CASCADE",
        "TRUNCATE users CASCADE",
        "TRUNCATE jobs, clients, users RESTART IDENTITY CASCADE",
    ):
        await _refused(db, statement)
    assert await _notes(db, record) == ["Discussed the hiring plan"]


async def test_the_id_and_every_other_stored_column_are_fixed(db) -> None:
    """On main the triggers compared a list of content columns that left out the id: `UPDATE … SET id = …`
    re-keyed a record (and anything pointing at it lost it). Only the archive fields, the follow-up state
    and appended attachments may change."""
    record = await _logged(db)
    new_id = uuid.uuid4()
    await _refused(
        db,
        "UPDATE client_communications SET id = :new WHERE id = :id",
        {"new": str(new_id) if db.is_postgres else new_id.hex, "id": _id(db, record)},
    )
    async with db.engine.begin() as conn:  # the workflow columns still move
        await conn.execute(
            text("UPDATE client_communications SET follow_up_snoozed_until = :day WHERE id = :id"),
            {"day": date(2026, 4, 1), "id": _id(db, record)},
        )
    async with db.session() as session:
        assert await session.get(ClientCommunication, record.id) is not None


async def test_insert_or_replace_cannot_rewrite_a_record(db, database_url: str) -> None:
    """On main, SQLite's `INSERT OR REPLACE` with an existing id deleted the old row without firing the
    delete trigger (recursive_triggers was off) and wrote new content under the same id. PostgreSQL's
    equivalent, an upsert, goes through the update trigger."""
    record = await _logged(db)
    if db.is_postgres:
        statement = (
            "INSERT INTO client_communications SELECT * FROM client_communications WHERE id = :id "
            "ON CONFLICT (id) DO UPDATE SET notes = 'rewritten'"
        )
        await _refused(db, statement, {"id": _id(db, record)})
        assert await _notes(db, record) == ["Discussed the hiring plan"]
        return
    columns = (
        "id, client_id, communication_type, subject, notes, communication_date, logged_by, is_important, "
        "follow_up_required, created_at"
    )
    replace = (
        f"INSERT OR REPLACE INTO client_communications ({columns}) SELECT id, client_id, "
        "communication_type, subject, 'rewritten', communication_date, logged_by, is_important, "
        "follow_up_required, created_at "
        "FROM client_communications WHERE id = :id"
    )
    await _refused(db, replace, {"id": _id(db, record)})
    await _refused(db, replace.replace("INSERT OR REPLACE", "REPLACE"), {"id": _id(db, record)})
    # A connection that never set the app's pragmas (the sqlite3 shell, a script) is refused too.
    path = make_url(database_url).database
    plain = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            plain.execute(replace.replace(":id", "?"), (_id(db, record),))
    finally:
        plain.close()
    assert await _notes(db, record) == ["Discussed the hiring plan"]


# -- the app's role cannot lift the triggers -----------------------------------------------------------
async def _superuser(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return bool(await conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")))


async def _cli(*argv: str, database_url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *cli_argv(*argv),
        env=cli_env(None, DATABASE_URL=database_url, PYTHONPATH=PROJECT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


ATTACKS = [
    ("ALTER TABLE client_communications DISABLE TRIGGER client_communications_immutable", "must be owner"),
    ("ALTER TABLE client_communications DISABLE TRIGGER USER", "must be owner"),
    ("DROP TRIGGER client_communications_immutable ON client_communications", "must be owner"),
    (
        "CREATE OR REPLACE FUNCTION client_communications_immutable() RETURNS trigger AS "
        "$$ BEGIN RETURN coalesce(NEW, OLD); END $$ LANGUAGE plpgsql",
        "must be owner|permission denied",
    ),
    ("ALTER TABLE client_communications OWNER TO CURRENT_USER", "must be owner"),
    ("DROP TABLE client_communications CASCADE", "must be owner"),
    ("TRUNCATE client_communications", "permission denied"),
    ("DELETE FROM client_communications", "permission denied"),
    ("SET session_replication_role = replica", "permission denied"),
]


@asynccontextmanager
async def hardened(db: Database, database_url: str) -> AsyncIterator[tuple[Database, ClientCommunication]]:
    """A scratch database the app's role migrated (so owned), with one logged record, then hardened with
    `clientbot db harden`: yields the app's connection and the record. Skips without a superuser."""
    if not db.is_postgres:
        pytest.skip("roles and ownership are PostgreSQL's; SQLite's protection is the file's permissions")
    if not await _superuser(db):
        pytest.skip("creating roles and a scratch database needs a superuser TEST_DATABASE_URL")
    url = make_url(database_url)
    suffix = uuid.uuid4().hex[:8]
    app, owner, password = f"cb_app_{suffix}", f"cb_owner_{suffix}", uuid.uuid4().hex
    scratch = f"{url.database}_harden_{suffix}"
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE ROLE {app} LOGIN NOSUPERUSER PASSWORD '{password}'"))
        await conn.execute(text(f"CREATE ROLE {owner} NOLOGIN"))
        await conn.execute(text(f"CREATE DATABASE {scratch} OWNER {app}"))
    admin_url = url.set(database=scratch).render_as_string(hide_password=False)
    app_url = url.set(database=scratch, username=app, password=password).render_as_string(hide_password=False)
    as_app = Database(app_url)
    try:
        await migrate(as_app)  # today's deployment: the app's role migrates, so it owns every table
        record = await _logged(as_app)

        harden = ("db", "harden", "--app-role", app, "--owner", owner)
        code, out, err = await _cli(*harden, database_url=admin_url)
        assert code == 0, err
        assert "REASSIGN OWNED" in out
        yield as_app, record
    finally:
        await as_app.dispose()
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
            await conn.execute(text(f"DROP ROLE IF EXISTS {app}"))
            await conn.execute(text(f"DROP ROLE IF EXISTS {owner}"))


async def test_the_apps_role_cannot_lift_the_triggers_after_db_harden(db, database_url: str) -> None:
    """The app's role owns what it migrated, and an owner may DISABLE/DROP a table's triggers, rewrite
    the trigger function, TRUNCATE or DROP the table: on main nothing took that away. `clientbot db harden`
    (run once by a superuser) hands every object to an owner role and leaves the app's role SELECT, INSERT
    and UPDATE on communications; the app still migrates (at head), logs, archives and cleans up."""
    async with hardened(db, database_url) as (as_app, record):
        for statement, refusal in ATTACKS:
            await _refused(as_app, statement, match=refusal)
        delete = "DELETE FROM client_communications WHERE id = :id"
        await _refused(as_app, delete, {"id": str(record.id)}, match="permission denied")

        await migrate(as_app)  # `clientbot serve` migrates on start: at head, that only reads
        async with as_app.session() as session:
            manager = await factories.user(session, "UMANAGER", Role.MANAGER)
            globex = await factories.client(session, manager, "Globex")
            await communications.log(session, actor=manager, client_id=globex.id, data=entry())
            await communications.archive(session, actor=manager, communication_id=record.id)
            await deliveries.first_delivery(session, "replayed-key")
            await deliveries.forget_old(session)
            assert (await clients.get(session, globex.id)).client_code.startswith("CLT-")
        async with as_app.session() as session:
            stored = list(await session.scalars(select(ClientCommunication.archived_at)))
        assert len(stored) == 2 and sum(a is not None for a in stored) == 1
