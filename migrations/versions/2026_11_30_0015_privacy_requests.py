"""personal-data requests (GDPR export / erasure) and the one permitted way to redact a communication

- `privacy_requests`: every export and erasure, by whom, why and what it touched. The person is kept as
  the SHA-256 of their email address only (after an erasure the address is nowhere in the database).
  A request can't be deleted, and once completed it can't change.
- `client_communications.redacted_at / redacted_by / redaction_request_id`: a redacted record says when,
  by whom and under which request.
- The immutability trigger (0010) gets one more way through, for an open erasure request only:
  the redaction columns (subject, notes, participants, permalink, the names of the attachments and the
  three redaction fields) may change, everything else (id, client, type, dates, who logged it, the
  archive and follow-up state, the attachments' files) stays. PostgreSQL also needs the
  transaction-local setting `clientbot.redaction` to name the request (`set_config(…, true)`, i.e. `SET
  LOCAL`); the request is opened and completed in the same transaction, so no other transaction ever
  sees it open. SQLite has no session settings: there the open request row is the permit (SQLite runs
  one writer at a time, so it is just as transaction-local). DELETE, TRUNCATE and every other change
  are refused as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence
from importlib import import_module

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0010 = import_module("migrations.versions.2026_11_30_0010_immutability_holes")
MESSAGE = _0010.MESSAGE
MUTABLE = _0010.MUTABLE
REDACTION_FIELDS = ("redacted_at", "redacted_by", "redaction_request_id")
# What an erasure may rewrite; attachments only in their names (the files, sizes and hashes stay).
REDACTABLE = ("subject", "notes", "participants", "permalink", "attachments", *REDACTION_FIELDS)
FILE_NAMES = ("name", "original_name")
SETTING = "clientbot.redaction"
REQUEST_MESSAGE = "privacy_requests are an audit trail: never deleted, and final once completed"


def _array(names: Sequence[str]) -> str:
    return "'{" + ",".join(names) + "}'::text[]"


def _pg_files(side: str) -> str:
    """The attachments of OLD/NEW without their names, in order."""
    return (
        f"(SELECT coalesce(jsonb_agg(e - {_array(FILE_NAMES)} ORDER BY n), '[]'::jsonb) "
        f"FROM jsonb_array_elements(coalesce({side}.attachments, '[]'::jsonb)) WITH ORDINALITY AS f(e, n))"
    )


PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION client_communications_immutable() RETURNS trigger AS $$
DECLARE
    redaction text := nullif(current_setting('{SETTING}', true), '');
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    IF redaction IS NOT NULL THEN
        -- An erasure (bot/services/privacy.py): only the redaction columns, only under the open request
        -- this transaction named.
        IF NEW.redaction_request_id IS NULL OR NEW.redaction_request_id::text <> redaction
           OR NEW.redacted_at IS NULL OR NEW.redacted_by IS NULL
           OR NOT EXISTS (SELECT 1 FROM privacy_requests p WHERE p.id = NEW.redaction_request_id
                          AND p.kind = 'erase' AND p.completed_at IS NULL)
           OR (to_jsonb(OLD) - {_array(REDACTABLE)}) IS DISTINCT FROM (to_jsonb(NEW) - {_array(REDACTABLE)})
           OR {_pg_files("OLD")} IS DISTINCT FROM {_pg_files("NEW")} THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF (to_jsonb(OLD) - {_array(MUTABLE)}) IS DISTINCT FROM (to_jsonb(NEW) - {_array(MUTABLE)})
       OR NOT (coalesce(NEW.attachments, '[]'::jsonb) @> coalesce(OLD.attachments, '[]'::jsonb))
       OR jsonb_array_length(coalesce(NEW.attachments, '[]'::jsonb))
          < jsonb_array_length(coalesce(OLD.attachments, '[]'::jsonb)) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
PG_REQUESTS = [
    f"""CREATE FUNCTION privacy_requests_final() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') OR OLD.completed_at IS NOT NULL THEN
        RAISE EXCEPTION '{REQUEST_MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER privacy_requests_final BEFORE UPDATE OR DELETE ON privacy_requests
    FOR EACH ROW EXECUTE FUNCTION privacy_requests_final()""",
    """CREATE TRIGGER privacy_requests_no_truncate BEFORE TRUNCATE ON privacy_requests
    FOR EACH STATEMENT EXECUTE FUNCTION privacy_requests_final()""",
]
SQLITE_REQUESTS = [
    f"""CREATE TRIGGER privacy_requests_no_delete BEFORE DELETE ON privacy_requests
    BEGIN SELECT RAISE(ABORT, '{REQUEST_MESSAGE}'); END""",
    f"""CREATE TRIGGER privacy_requests_final BEFORE UPDATE ON privacy_requests
    WHEN OLD.completed_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, '{REQUEST_MESSAGE}'); END""",
]
SQLITE_PERMITTED = """(NEW.redaction_request_id IS NOT NULL AND NEW.redacted_at IS NOT NULL
        AND NEW.redacted_by IS NOT NULL
        AND EXISTS (SELECT 1 FROM privacy_requests p WHERE p.id = NEW.redaction_request_id
                    AND p.kind = 'erase' AND p.completed_at IS NULL))"""


def _sqlite_files(side: str) -> str:
    removed = ", ".join(f"'$.{n}'" for n in FILE_NAMES)
    return (
        f"(SELECT json_group_array(json_remove(value, {removed})) FROM "
        f"(SELECT value FROM json_each(coalesce({side}.attachments, '[]')) ORDER BY key))"
    )


def sqlite_triggers(columns: Sequence[str]) -> list[str]:
    """0010's edit trigger without the redactable columns, and one for those: they change only under an
    open erasure request, and then nothing else (archive, follow-up state, the files) does."""
    fixed = [c for c in columns if c not in MUTABLE and c not in REDACTABLE]
    redactable_text = [c for c in REDACTABLE if c != "attachments"]
    workflow = [c for c in MUTABLE if c != "attachments"]
    append_only = """(json_array_length(coalesce(NEW.attachments, '[]'))
            < json_array_length(coalesce(OLD.attachments, '[]'))
        OR EXISTS (SELECT 1 FROM json_each(coalesce(OLD.attachments, '[]')) AS old
                   WHERE old.value NOT IN (SELECT value FROM json_each(coalesce(NEW.attachments, '[]')))))"""
    return [
        f"""CREATE TRIGGER client_communications_no_edit BEFORE UPDATE OF {", ".join((*fixed, "attachments"))}
    ON client_communications
    WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in fixed)}
      OR (NOT {SQLITE_PERMITTED} AND {append_only})
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
        f"""CREATE TRIGGER client_communications_redaction BEFORE UPDATE OF {", ".join(REDACTABLE)}
    ON client_communications
    WHEN ((({" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in redactable_text)})) AND NOT {SQLITE_PERMITTED})
      OR ({SQLITE_PERMITTED} AND ({" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in workflow)}
          OR {_sqlite_files("OLD")} IS NOT {_sqlite_files("NEW")}))
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    ]


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject_digest", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_by_label", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.CheckConstraint("kind IN ('export', 'erase')", name=op.f("ck_privacy_requests_kind")),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_privacy_requests_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index("idx_privacy_requests_subject", "privacy_requests", ["subject_digest"])
    postgres = op.get_bind().dialect.name == "postgresql"
    # Plain ADD COLUMN (on SQLite a table rebuild would drop the triggers); the request's foreign key on
    # PostgreSQL only: SQLite can't drop a column that is part of one, and its trigger checks the request.
    op.add_column("client_communications", sa.Column("redacted_at", sa.DateTime(), nullable=True))
    op.add_column("client_communications", sa.Column("redacted_by", sa.String(length=255), nullable=True))
    op.add_column("client_communications", sa.Column("redaction_request_id", sa.Uuid(), nullable=True))
    if postgres:
        op.create_foreign_key(
            op.f("fk_client_communications_redaction_request_id_privacy_requests"),
            "client_communications",
            "privacy_requests",
            ["redaction_request_id"],
            ["id"],
        )
        op.execute(PG_FUNCTION)
        for statement in PG_REQUESTS:
            op.execute(statement)
        return
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("client_communications")]
    op.execute("DROP TRIGGER client_communications_no_edit")
    for statement in (*sqlite_triggers(columns), *SQLITE_REQUESTS):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER privacy_requests_no_truncate ON privacy_requests")
        op.execute("DROP TRIGGER privacy_requests_final ON privacy_requests")
        op.execute("DROP FUNCTION privacy_requests_final()")
        op.execute(_0010.PG_FUNCTION)
        for column in ("redaction_request_id", "redacted_by", "redacted_at"):
            op.drop_column("client_communications", column)
    else:
        for trigger in (
            "privacy_requests_final",
            "privacy_requests_no_delete",
            "client_communications_redaction",
        ):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TRIGGER client_communications_no_edit")
        for column in ("redaction_request_id", "redacted_by", "redacted_at"):
            op.execute(f"ALTER TABLE client_communications DROP COLUMN {column}")
        columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("client_communications")]
        op.execute(_0010.sqlite_edit_trigger(columns))
    op.drop_index("idx_privacy_requests_subject", table_name="privacy_requests")
    op.drop_table("privacy_requests")
