"""Bulk loads from an existing ATS: jobs and applications from CSV. Each row is all-or-nothing (a
savepoint), good rows are kept, bad rows are reported with their line number and field errors."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.errors import DomainError, ValidationFailed
from bot.models import Application, Job
from bot.services import clients, jobs, pipeline, users
from bot.services.inputs import parse_input

BATCH = 500
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class RowError:
    line: int
    errors: dict[str, str]


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    failed: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.created + self.updated


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; header names are matched case-insensitively."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValidationFailed({"file": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."})
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}


async def _job_row(session: AsyncSession, actor: Any, row: dict[str, str], tz: Any) -> bool:
    """Create or update one job; returns True when created."""
    data = jobs.parse_job({**row, "client_id": row.get("client_code") or row.get("client_id")})
    existing = (
        await session.scalar(select(Job).where(Job.reference == data.reference)) if data.reference else None
    )
    if existing is None:
        await jobs.create_job(session, actor=actor, data=data, tz=tz)
        return True
    await jobs.update_job(session, actor=actor, job=existing, data=data)
    if data.client_id:
        client = await clients.find(session, data.client_id)
        result = await jobs.link_jobs(
            session, actor=actor, client_id=client.id, references=[existing.reference]
        )
        if result.conflicts:
            raise ValidationFailed({"client_code": f"The job is linked to {result.conflicts[0][1]}."})
    return False


async def _application_row(session: AsyncSession, actor: Any, row: dict[str, str], tz: Any) -> bool:
    candidate_in = parse_input(
        pipeline.CandidateIn,
        {
            "full_name": row.get("candidate_name"),
            "email": row.get("candidate_email"),
            "source": row.get("source") or None,
        },
    )
    candidate, _ = await pipeline.upsert_candidate(session, actor=actor, data=candidate_in)
    job = await jobs.get_job(session, row.get("job_reference") or row.get("job_id") or "")
    values = {k: row[k] for k in ("stage", "quality_score", "placement_fee", "offer_status") if row.get(k)}
    existing = await session.scalar(
        select(Application).where(Application.job_id == job.id, Application.candidate_id == candidate.id)
    )
    if existing is None:
        data = parse_input(
            pipeline.ApplicationIn, {"job_id": str(job.id), "candidate_id": str(candidate.id), **values}
        )
        await pipeline.create_application(session, actor=actor, data=data)
        return True
    patch = parse_input(pipeline.ApplicationPatch, values)
    await pipeline.update_application(session, actor=actor, application_id=existing.id, patch=patch)
    return False


IMPORTERS = {"jobs": _job_row, "applications": _application_row}


async def import_csv(
    db: Database,
    *,
    kind: str,
    path: Path,
    actor_id: uuid.UUID,
    tz: Any = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row of `path`; a failing row rolls back only itself."""
    importer = IMPORTERS[kind]
    report = ImportReport()
    rows = iter(read_csv(path))
    done = False
    while not done:
        async with db.session() as session:
            actor = await users.get(session, actor_id)
            for _ in range(BATCH):
                try:
                    line, row = next(rows)
                except StopIteration:
                    done = True
                    break
                report.rows += 1
                try:
                    async with session.begin_nested():
                        created = await importer(session, actor, row, tz)
                    report.created += created
                    report.updated += not created
                except ValidationFailed as error:
                    report.failed.append(RowError(line, error.fields))
                except DomainError as error:
                    report.failed.append(RowError(line, {"row": str(error)}))
                if progress:
                    progress(report.rows)
    return report
