"""Jobs and their link to a client: creation, bulk link, unlink with audit trail, per-client listing."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import next_code
from bot.errors import Conflict, NotFound, ValidationFailed
from bot.models import (
    Application,
    Client,
    ClientJobAssignment,
    CodeCounter,
    Job,
    JobStatus,
    Role,
    Stage,
    User,
    utcnow,
)
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
    client_id: str | None = Field(default=None, description="The client's UUID or code (CLT-2026-0001).")
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


def _locked(query: Select[tuple[Job]]) -> Select[tuple[Job]]:
    """SELECT ... FOR UPDATE, re-reading rows the session already holds (a no-op lock on SQLite, where
    writers are serialised anyway): a concurrent change waits, then sees what the other one did."""
    return query.with_for_update().execution_options(populate_existing=True)


# Open jobs first, newest first: the order of a client's jobs wherever they are listed.
OPEN_FIRST = (Job.status != JobStatus.OPEN.value, Job.opened_at.desc(), Job.reference)


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


class ReferenceTaken(Conflict):
    """The job reference is already used by another job."""


def _reference(year: int, number: int) -> str:
    return f"JOB-{year}-{number:04d}"


async def _free_reference(session: AsyncSession, year: int) -> str:
    """The next JOB-YYYY-NNNN no job uses yet. References supplied by an ATS or a CSV may already hold
    numbers the counter has not reached: those are skipped in one go and the counter moved past them.
    The counter row stays locked until the transaction ends, so concurrent creations queue up."""
    reference = await next_code(session, "JOB", year)
    if not await session.scalar(select(Job.id).where(Job.reference == reference)):
        return reference
    taken = set(await session.scalars(select(Job.reference).where(Job.reference.like(f"JOB-{year}-%"))))
    number = next(n for n in count(int(reference.rsplit("-", 1)[1]) + 1) if _reference(year, n) not in taken)
    await session.execute(
        update(CodeCounter)
        .where(CodeCounter.prefix == "JOB", CodeCounter.year == year)
        .values(last_value=number)
    )
    return _reference(year, number)


async def create_job(session: AsyncSession, *, actor: User, data: JobIn, tz: ZoneInfo | None = None) -> Job:
    """Create a job, linked to its client at creation when one is given. A generated reference never
    collides with one supplied earlier; a supplied reference already in use is a conflict."""
    require(actor, Role.MANAGER, "create jobs")
    client = await clients.referenced(session, data.client_id) if data.client_id else None
    owner = await users.by_reference(session, data.owner_id) if data.owner_id else actor
    if owner is None:
        raise ValidationFailed({"owner_id": "No such user."})
    taken = ReferenceTaken(f"A job with reference {data.reference} already exists.")
    if data.reference and await session.scalar(select(Job.id).where(Job.reference == data.reference)):
        raise taken
    now = utcnow()
    year = now.astimezone(tz).year if tz else now.year
    filled_at = data.filled_at or (now if data.status == JobStatus.FILLED else None)
    opened_at = data.opened_at or (min(now, filled_at) if filled_at else now)
    for _attempt in range(5):
        job = Job(
            id=uuid.uuid4(),
            reference=data.reference or await _free_reference(session, year),
            title=data.title,
            status=data.status.value,
            openings=data.openings,
            opened_at=opened_at,
            filled_at=filled_at,
            fee=data.fee,
            salary=data.salary,
            owner_id=owner.id,
        )
        try:
            # A savepoint: a reference taken meanwhile by a concurrent transaction fails only this insert.
            async with session.begin_nested():
                session.add(job)
                await session.flush()
            break
        except IntegrityError:
            if data.reference:
                raise taken from None
    else:
        raise Conflict("Could not allocate a job reference; try again.")
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


async def upsert_job(
    session: AsyncSession, *, actor: User, data: JobIn, tz: ZoneInfo | None = None
) -> tuple[Job, bool]:
    """For an ATS: create the job, or update the one with the same reference. Returns (job, created).
    An update goes through `update_job` (filled_at stamping, audit); fields absent from `data` keep
    their current values. A `client_id` links the job when it is unlinked; a job linked to another
    client is a conflict (linking elsewhere is an explicit move)."""
    try:
        return await create_job(session, actor=actor, data=data, tz=tz), True
    except ReferenceTaken:  # there before, or created concurrently: update that one
        existing = await session.scalar(_locked(select(Job).where(Job.reference == data.reference)))
        if existing is None:
            raise
    kept = {
        "title": existing.title,
        "status": JobStatus(existing.status),
        "openings": existing.openings,
        "opened_at": existing.opened_at,
        "filled_at": existing.filled_at,
        "fee": existing.fee,
        "salary": existing.salary,
    }
    merged = data.model_copy(update={k: v for k, v in kept.items() if k not in data.model_fields_set})
    if "status" in data.model_fields_set and "filled_at" not in data.model_fields_set:
        merged.filled_at = existing.filled_at if data.status == JobStatus.FILLED else None
    await update_job(session, actor=actor, job=existing, data=merged)
    if data.owner_id:
        owner = await users.by_reference(session, data.owner_id)
        if owner is None:
            raise ValidationFailed({"owner_id": "No such user."})
        existing.owner_id = owner.id
    if data.client_id:
        client = await clients.referenced(session, data.client_id)
        result = await link_jobs(session, actor=actor, client_id=client.id, references=[existing.reference])
        if result.conflicts:
            raise Conflict(
                f"{existing.reference} is linked to {result.conflicts[0][1]}; "
                "move it explicitly to link it to another client."
            )
    return existing, False


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
    # Locked: a concurrent link waits here and then sees the other client, never moves a job silently.
    found = {
        j.reference: j
        for j in await session.scalars(_locked(select(Job).where(Job.reference.in_(wanted)).order_by(Job.id)))
    }
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
    job = await session.scalar(_locked(select(Job).where(Job.id == job.id))) or job
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
    jobs = list(
        await session.scalars(
            select(Job)
            .where(Job.client_id == client_id)
            .order_by(*OPEN_FIRST)
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


async def choices_for_client(session: AsyncSession, *, client_id: uuid.UUID, limit: int = 100) -> list[Job]:
    """The jobs a record about this client may relate to: open ones first, newest first (a select's 100)."""
    return list(
        await session.scalars(
            select(Job).where(Job.client_id == client_id).order_by(*OPEN_FIRST).limit(limit)
        )
    )


async def job_candidates(
    session: AsyncSession, *, job_id: uuid.UUID, viewer: User
) -> list[tuple[Application, Any]]:
    """A job's applications with their candidates, by stage order then latest move; refused to a viewer who
    may not see the job's client (no candidates at all for Slack guests)."""
    from bot.models import Candidate

    clients.require_any_view(viewer)
    job = await get_job(session, job_id)
    if job.client_id is not None:
        await clients.get(session, job.client_id, viewer=viewer)

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


async def picker_options(session: AsyncSession, *, actor: User, text: str, limit: int = 100) -> list[Job]:
    """Type-ahead for job pickers: jobs by reference or title, newest first; nothing for Slack guests
    (they see no client data)."""
    if actor.is_guest:
        return []
    seen = select(Client.id).where(clients.visible_to(actor))
    rows = await session.scalars(
        select(Job)
        .where(clients.contains(text, Job.reference, Job.title))
        .where(or_(Job.client_id.is_(None), Job.client_id.in_(seen)))
        .order_by(Job.opened_at.desc())
        .limit(limit)
    )
    return list(rows)
