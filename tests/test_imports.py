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
