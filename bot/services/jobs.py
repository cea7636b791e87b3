"""Jobs and their link to a client: creation, bulk link, unlink with audit trail, per-client listing."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import next_code
from bot.errors import Conflict, NotFound, ValidationFailed
from bot.models import Application, Client, ClientJobAssignment, Job, JobStatus, Role, Stage, User, utcnow
from bot.roles import require
from bot.services import audit, clients, users
from bot.services.inputs import parse_input

REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{1,49}$")
PAGE_SIZE = 20
MAX_JOBS_PER_LINK = 500


class JobIn(BaseModel):
    """A job from the modal, the API or a CSV row."""

    model_config = ConfigDict(str_strip_whitespace=True)

    reference: str | None = Field(default=None, max_length=50)
    title: str = Field(min_length=1, max_length=255)
    client_id: str | None = None
    status: JobStatus = JobStatus.OPEN
    openings: int = Field(default=1, ge=1, le=1000)
    opened_at: datetime | None = None
    filled_at: datetime | None = None
    fee: Decimal | None = Field(default=None, ge=0, max_digits=15, decimal_places=2)
    salary: Decimal | None = Field(default=None, ge=0, max_digits=15, decimal_places=2)
    owner_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> JobIn:
        if self.reference:
            self.reference = self.reference.upper()
            if not REFERENCE.match(self.reference):
                raise ValueError("reference: use letters, digits and - . / _ (e.g. JOB-2026-0042)")
        for name in ("opened_at", "filled_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                setattr(self, name, moment.replace(tzinfo=ZoneInfo("UTC")))
        if self.filled_at and self.opened_at and self.filled_at < self.opened_at:
            raise ValueError("filled_at: a job cannot be filled before it opened")
        return self


def parse_job(data: dict[str, Any]) -> JobIn:
    return parse_input(JobIn, data)


async def get_job(session: AsyncSession, reference: str | uuid.UUID) -> Job:
    """A job by UUID or reference (case-insensitive)."""
    job = None
    try:
        job = await session.get(Job, reference if isinstance(reference, uuid.UUID) else uuid.UUID(reference))
    except ValueError:
        job = await session.scalar(select(Job).where(Job.reference == str(reference).strip().upper()))
    if job is None:
        raise NotFound(f"No job {reference}.")
    return job


async def _assign(session: AsyncSession, *, actor: User, client: Client, job: Job) -> None:
    """Link `job` to `client`: one assignment row per (client, job), reactivated on relink."""
    assignment = await session.scalar(
        select(ClientJobAssignment).where(
            ClientJobAssignment.client_id == client.id, ClientJobAssignment.job_id == job.id
        )
    )
    now = utcnow()
    if assignment is None:
        assignment = ClientJobAssignment(
            client_id=client.id, job_id=job.id, assigned_by=actor.id, assigned_at=now
        )
        session.add(assignment)
    else:
        assignment.is_active, assignment.assigned_by, assignment.assigned_at = True, actor.id, now
        assignment.unassigned_at = assignment.unassigned_by = None
    job.client_id = client.id
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="job.linked",
        entity=job,
        before={"client_id": None},
        after={"client_id": str(client.id), "client_code": client.client_code},
    )


async def _unassign(session: AsyncSession, *, actor: User, client: Client, job: Job) -> None:
    now = utcnow()
    assignment = await session.scalar(
        select(ClientJobAssignment).where(
            ClientJobAssignment.client_id == client.id, ClientJobAssignment.job_id == job.id
        )
    )
    if assignment is not None and assignment.is_active:
        assignment.is_active, assignment.unassigned_at, assignment.unassigned_by = False, now, actor.id
    job.client_id = None
    audit.record(
        session,
        actor=actor,
        action="job.unlinked",
        entity=job,
        before={"client_id": str(client.id), "client_code": client.client_code},
        after={"client_id": None},
    )


async def create_job(session: AsyncSession, *, actor: User, data: JobIn, tz: ZoneInfo | None = None) -> Job:
    """Create a job, linked to its client at creation when one is given."""
    require(actor, Role.MANAGER, "create jobs")
    client = await clients.find(session, data.client_id) if data.client_id else None
    owner = await users.by_reference(session, data.owner_id) if data.owner_id else actor
    if owner is None:
        raise ValidationFailed({"owner_id": "No such user."})
    if data.reference and await session.scalar(select(Job.id).where(Job.reference == data.reference)):
        raise Conflict(f"A job with reference {data.reference} already exists.")
    now = utcnow()
    year = now.astimezone(tz).year if tz else now.year
    job = Job(
        id=uuid.uuid4(),
        reference=data.reference or await next_code(session, "JOB", year),
        title=data.title,
        status=data.status.value,
        openings=data.openings,
        opened_at=data.opened_at or now,
        filled_at=data.filled_at,
        fee=data.fee,
        salary=data.salary,
        owner_id=owner.id,
    )
    session.add(job)
    await session.flush()
    audit.record(session, actor=actor, action="job.created", entity=job, after=audit.snapshot(job))
    if client is not None:
        await _assign(session, actor=actor, client=client, job=job)
    return job


async def update_job(session: AsyncSession, *, actor: User, job: Job, data: JobIn) -> Job:
    """Update a job's own fields (not its client: linking is explicit)."""
    require(actor, Role.MANAGER, "edit jobs")
    before = audit.snapshot(job)
    job.title, job.status, job.openings = data.title, data.status.value, data.openings
    job.fee, job.salary = data.fee, data.salary
    if data.opened_at:
        job.opened_at = data.opened_at
    job.filled_at = data.filled_at or (job.filled_at if data.status == JobStatus.FILLED else None)
    if data.status == JobStatus.FILLED and job.filled_at is None:
        job.filled_at = utcnow()
    await session.flush()
    audit.record_changes(session, actor=actor, action="job.updated", entity=job, before=before)
    return job


@dataclass
class LinkResult:
    linked: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (job reference, other client code)
    not_found: list[str] = field(default_factory=list)


async def link_jobs(
    session: AsyncSession, *, actor: User, client_id: uuid.UUID, references: list[str], move: bool = False
) -> LinkResult:
    """Link jobs to a client. Idempotent; a job linked to another client is a conflict unless `move`
    is set explicitly, in which case the old link is closed (audited) first."""
    require(actor, Role.MANAGER, "link jobs")
    if len(references) > MAX_JOBS_PER_LINK:
        raise ValidationFailed({"jobs": f"Link at most {MAX_JOBS_PER_LINK} jobs at once."})
    client = await clients.get(session, client_id)
    wanted = list(dict.fromkeys(r.strip().upper() for r in references if r.strip()))
    found = {j.reference: j for j in await session.scalars(select(Job).where(Job.reference.in_(wanted)))}
    others = {
        c.id: c.client_code
        for c in await session.scalars(
            select(Client).where(Client.id.in_({j.client_id for j in found.values() if j.client_id}))
        )
    }
    result = LinkResult()
    for reference in wanted:
        job = found.get(reference)
        if job is None:
            result.not_found.append(reference)
        elif job.client_id == client.id:
            result.already.append(reference)
        elif job.client_id is not None and not move:
            result.conflicts.append((reference, others.get(job.client_id, "another client")))
        else:
            if job.client_id is not None:
                await _unassign(
                    session, actor=actor, client=await clients.get(session, job.client_id), job=job
                )
            await _assign(session, actor=actor, client=client, job=job)
            result.linked.append(reference)
    return result


async def unlink_job(session: AsyncSession, *, actor: User, client_id: uuid.UUID, reference: str) -> Job:
    require(actor, Role.MANAGER, "unlink jobs")
    client = await clients.get(session, client_id)
    job = await get_job(session, reference)
    if job.client_id != client.id:
        raise Conflict(f"{job.reference} is not linked to {client.client_code}.")
    await _unassign(session, actor=actor, client=client, job=job)
    await session.flush()
    return job


@dataclass
class JobRow:
    job: Job
    pipeline: dict[str, int]


@dataclass
class JobPage:
    rows: list[JobRow]
    total: int
    page: int
    pages: int


async def client_jobs(
    session: AsyncSession, *, client_id: uuid.UUID, page: int = 1, per_page: int = PAGE_SIZE
) -> JobPage:
    """A client's jobs, open ones first, with their candidates counted by stage (one grouped query)."""
    total = await session.scalar(select(func.count()).select_from(Job).where(Job.client_id == client_id)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    open_first = Job.status != JobStatus.OPEN.value
    jobs = list(
        await session.scalars(
            select(Job)
            .where(Job.client_id == client_id)
            .order_by(open_first, Job.opened_at.desc(), Job.reference)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    counts: dict[uuid.UUID, dict[str, int]] = {j.id: dict.fromkeys((s.value for s in Stage), 0) for j in jobs}
    if jobs:
        rows = await session.execute(
            select(Application.job_id, Application.stage, func.count())
            .where(Application.job_id.in_(counts))
            .group_by(Application.job_id, Application.stage)
        )
        for job_id, stage, n in rows:
            counts[job_id][stage] = n
    return JobPage([JobRow(j, counts[j.id]) for j in jobs], total, page, pages)


async def job_candidates(session: AsyncSession, *, job_id: uuid.UUID) -> list[tuple[Application, Any]]:
    """A job's applications with their candidates, by stage order then latest move."""
    from bot.models import Candidate

    stage_order = {s.value: i for i, s in enumerate(Stage)}
    rows = (
        await session.execute(
            select(Application, Candidate)
            .join(Candidate, Candidate.id == Application.candidate_id)
            .where(Application.job_id == job_id)
        )
    ).all()
    return sorted(
        ((a, c) for a, c in rows),
        key=lambda pair: (stage_order[pair[0].stage], -pair[0].stage_changed_at.timestamp()),
    )
