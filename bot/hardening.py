"""`clientbot db harden`: on PostgreSQL, the app's role keeps the rights the app uses and nothing more.

The role that owns a table may DISABLE or DROP its triggers, TRUNCATE it or rewrite its trigger
functions, so an app that owns its tables can undo the immutability of communications. Hardening gives
every object the app's role owns to a separate owner role, then grants the app's role only SELECT, INSERT,
UPDATE and DELETE on the tables, without DELETE on the append-only client_communications and
privacy_requests (the record of personal-data requests), and SELECT
only on alembic_version. Run it as a superuser (or a role that is a member of both roles); from then on
run `clientbot migrate` as the owner and `clientbot serve` as the app's role. Default privileges make
the tables of later migrations (created by the owner) usable by the app's role."""

from __future__ import annotations

from sqlalchemy import text

from bot.db import Database
from bot.errors import DomainError

APPEND_ONLY = ("client_communications", "privacy_requests")
READ_ONLY = ("alembic_version",)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def harden(db: Database, *, app_role: str, owner: str | None = None) -> list[str]:
    """Apply the grants; returns the statements run. DomainError when the roles do not allow it."""
    if not db.is_postgres:
        raise DomainError(
            "SQLite has no roles: protect the database file with file permissions (the triggers refuse "
            "edits, deletes and REPLACE on communications)."
        )
    async with db.engine.begin() as conn:
        me, schema, database = (
            await conn.execute(text("SELECT current_user, current_schema(), current_database()"))
        ).one()
        owner = owner or me
        app = (
            await conn.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :name"), {"name": app_role}
            )
        ).one_or_none()
        if app is None:
            raise DomainError(f"No role {app_role!r}: create it first (CREATE ROLE … LOGIN PASSWORD …).")
        if app.rolsuper:
            raise DomainError(f"{app_role!r} is a superuser; the app's role must not be one.")
        if app_role == owner:
            raise DomainError("The owner must be another role than the app's.")
        member = await conn.scalar(
            text("SELECT pg_has_role(:app, :owner, 'MEMBER')"), {"app": app_role, "owner": owner}
        )
        if member:
            raise DomainError(f"{app_role!r} is a member of {owner!r} and could act as the owner.")
        app_q, owner_q, schema_q = _quote(app_role), _quote(owner), _quote(schema)
        statements = [
            # Everything the app's role owns here (tables, sequences, trigger functions, the schema, the
            # database) goes to the owner.
            f"REASSIGN OWNED BY {app_q} TO {owner_q}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema_q} FROM {app_q}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema_q} FROM {app_q}",
            f"REVOKE CREATE ON SCHEMA {schema_q} FROM {app_q}",
            f"GRANT USAGE ON SCHEMA {schema_q} TO {app_q}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema_q} TO {app_q}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema_q} TO {app_q}",
            *(f"REVOKE DELETE ON {schema_q}.{_quote(t)} FROM {app_q}" for t in APPEND_ONLY),
            *(f"REVOKE INSERT, UPDATE, DELETE ON {schema_q}.{_quote(t)} FROM {app_q}" for t in READ_ONLY),
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_q}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_q} IN SCHEMA {schema_q} "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app_q}",
        ]
        for statement in statements:
            await conn.execute(text(statement))
        owned = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND pg_get_userbyid(c.relowner) = :app"
            ),
            {"schema": schema, "app": app_role},
        )
        if owned:
            raise DomainError(f"{app_role!r} still owns {owned} relation(s) in {schema}; nothing changed.")
        return [f"-- database {database}, schema {schema}: owner {owner}, app role {app_role}", *statements]
