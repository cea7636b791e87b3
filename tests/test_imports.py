"""`clientbot import jobs|applications FILE.csv`: good rows kept, bad rows reported, none half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot.models import Application, Candidate, Job, Role
from tests import factories


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_import_jobs_then_applications_with_mixed_rows(db, database_url: str, tmp_path: Path) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
    jobs_csv = write(
        tmp_path / "jobs.csv",
        f"""
reference,title,client_code,status,openings,opened_at,fee
JOB-A1,Backend Engineer,{acme.client_code},open,2,2026-01-05,6000
JOB-A2,,{acme.client_code},open,1,2026-01-05,
JOB-A3,Designer,CLT-1999-9999,open,1,2026-01-05,
JOB-A4,Analyst,,open,zero,2026-01-05,
JOB-A5,Data Engineer,{acme.client_code},filled,1,2026-01-01,4500
""",
    )
    result = run_cli(database_url, "import", "jobs", str(jobs_csv))
    assert result.returncode == 1, result.stderr
    assert "5 rows: 2 created, 0 updated, 3 failed" in result.stdout
    assert (
        "line 3: title" in result.stdout
        and "line 4:" in result.stdout
        and "line 5: openings" in result.stdout
    )
    apps_csv = write(
        tmp_path / "apps.csv",
        """
job_reference,candidate_name,candidate_email,source,stage,quality_score,placement_fee,offer_status
JOB-A1,Ann Lee,ann@example.com,referral,interviewed,4,,
JOB-A1,Bob Ray,bob@example.com,linkedin,hired,5,6000,accepted
JOB-A1,Bad Score,bad@example.com,,screened,9,,
JOB-A9,Lost,lost@example.com,,screened,,,
JOB-A1,Ann Lee,ann@example.com,referral,offered,4,,made
""",
    )
    result = run_cli(database_url, "import", "applications", str(apps_csv))
    assert "5 rows: 2 created, 1 updated, 2 failed" in result.stdout, result.stdout + result.stderr
    assert "line 4: quality_score" in result.stdout and "line 5: row: No job JOB-A9" in result.stdout
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 2
        assert await session.scalar(select(func.count()).select_from(Application)) == 2
        # The bad rows wrote nothing, not even their candidate.
        emails = set(await session.scalars(select(Candidate.email)))
        assert emails == {"ann@example.com", "bob@example.com"}
        ann = await session.scalar(
            select(Application).join(Candidate).where(Candidate.email == "ann@example.com")
        )
        assert ann.stage == "offered" and ann.offer_status == "made"


async def test_unreadable_and_database_failing_rows_are_reported_and_good_rows_kept(
    db, tmp_path: Path, monkeypatch
) -> None:
    """Extra columns, non-UTF-8 bytes and a database error each fail only their own row; the good rows
    of the same batch survive (on PostgreSQL a database error would otherwise abort the transaction)."""
    from sqlalchemy import insert

    from bot.services import imports

    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    path = tmp_path / "jobs.csv"
    path.write_bytes(
        b"reference,title,status\n"
        b"JOB-G1,Good one,open\n"
        b"JOB-X1,Too many,open,surprise,extra\n"
        b"JOB-L1,Caf\xe9 manager,open\n"  # Latin-1, not UTF-8
        b"JOB-D1,Boom,open\n"
        b"JOB-G2,Good two,open\n"
    )
    real = imports.IMPORTERS["jobs"]

    async def exploding(session, actor, row, tz):
        if row["title"] == "Boom":  # a real constraint violation inside the row's savepoint
            await session.execute(
                insert(Job).values(reference="JOB-G1", title="dup", status="open", owner_id=actor.id)
            )
        return await real(session, actor, row, tz)

    monkeypatch.setitem(imports.IMPORTERS, "jobs", exploding)
    report = await imports.import_csv(db, kind="jobs", path=path, actor_id=manager.id)
    assert (report.rows, report.created, len(report.failed)) == (5, 2, 3)
    failed = {f.line: f.errors["row"] for f in report.failed}
    assert "5 values but the header has 3 columns" in failed[3]
    assert "UTF-8" in failed[4]
    assert failed[5].startswith("Conflicts with existing data")
    async with db.session() as session:
        assert set(await session.scalars(select(Job.reference))) == {"JOB-G1", "JOB-G2"}


def test_cli_reports_a_latin1_file_without_a_traceback(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("reference,title\nJOB-Z1,Caf\u00e9\nJOB-Z2,Ni\u00f1o\n".encode("latin-1"))
    result = run_cli(database_url, "import", "jobs", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "2 rows: 0 created, 0 updated, 2 failed" in result.stdout
    assert "line 2: row: Not valid UTF-8" in result.stdout
