"""Bulk loads from an existing ATS: jobs and applications from CSV. Each row is all-or-nothing (a
savepoint), good rows are kept, bad rows are reported with their line number and field errors."""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.errors import DomainError, ValidationFailed
from bot.services import jobs, pipeline, users
from bot.services.inputs import parse_input

log = logging.getLogger(__name__)

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


def _undecodable(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str] | RowError]]:
    """(line number, row) pairs; header names are matched case-insensitively. A row that cannot be
    read (not UTF-8, more values than the header has columns, malformed CSV) comes as a RowError
    instead, so it is reported with its line and the rows around it are still imported."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValidationFailed({"file": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."})
    # Undecodable bytes become lone surrogates (UTF-8 never has a newline inside a character, so the
    # damage stays on its own lines) and the rows holding them are reported, not the whole file.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except csv.Error as error:
            yield 1, RowError(1, {"file": f"The header line is not valid CSV: {error}."})
            return
        width = len(header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield reader.line_num, RowError(reader.line_num, {"row": f"Not valid CSV: {error}."})
                continue
            line = reader.line_num
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                yield (
                    line,
                    RowError(
                        line,
                        {"row": f"{width + len(extra)} values but the header has {width} columns."},
                    ),
                )
                continue
            if any(_undecodable(v or "") for v in row.values()):
                yield (
                    line,
                    RowError(
                        line, {"row": "Not valid UTF-8 text: save the file as CSV UTF-8 and import it again."}
                    ),
                )
                continue
            yield line, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}


async def _job_row(session: AsyncSession, actor: Any, row: dict[str, str], tz: Any) -> bool:
    """Create or update one job; returns True when created."""
    data = jobs.parse_job({**row, "client_id": row.get("client_code") or row.get("client_id")})
    _job, created = await jobs.upsert_job(session, actor=actor, data=data, tz=tz)
    return created


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
    data = parse_input(
        pipeline.ApplicationIn, {"job_id": str(job.id), "candidate_id": str(candidate.id), **values}
    )
    _application, created = await pipeline.upsert_application(session, actor=actor, data=data)
    return created


def database_problem(error: SQLAlchemyError) -> str:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
    if isinstance(error, IntegrityError):
        return f"Conflicts with existing data ({detail})."
    return f"Could not be saved ({detail})."


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
                if isinstance(row, RowError):
                    report.failed.append(row)
                    if progress:
                        progress(report.rows)
                    continue
                try:
                    # Each row in its own savepoint: a failing row (even a database error, which on
                    # PostgreSQL aborts the transaction) rolls back only itself, never the batch.
                    async with session.begin_nested():
                        created = await importer(session, actor, row, tz)
                    report.created += created
                    report.updated += not created
                except ValidationFailed as error:
                    report.failed.append(RowError(line, error.fields or {"row": str(error)}))
                except DomainError as error:
                    report.failed.append(RowError(line, {"row": str(error)}))
                except SQLAlchemyError as error:
                    report.failed.append(RowError(line, {"row": database_problem(error)}))
                except (ArithmeticError, ValueError, TypeError) as error:
                    log.warning("import %s line %s: %r", kind, line, error)
                    report.failed.append(RowError(line, {"row": f"Invalid value ({error})."}))
                if progress:
                    progress(report.rows)
    return report
