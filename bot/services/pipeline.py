"""Candidates and applications: the pipeline of a job, with timestamped and audited stage moves."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from bot.errors import Conflict, NotFound
from bot.models import (
    Application,
    Candidate,
    Client,
    Job,
    JobStatus,
    Role,
    Stage,
    SubscriptionEvent,
    User,
    utcnow,
)
from bot.roles import require
from bot.services import audit, subscriptions
from bot.services.jobs import get_job

OfferStatus = Literal["made", "accepted", "declined"]


class CandidateIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    full_name: str = Field(min_length=1, max_length=255)
    email: EmailStr = Field(max_length=255)
    source: str | None = Field(default=None, max_length=100)


class ApplicationIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    job_id: str
    candidate_id: str
    stage: Stage = Stage.SCREENED
    quality_score: int | None = Field(default=None, ge=1, le=5)
    placement_fee: Decimal | None = Field(default=None, ge=0, max_digits=15, decimal_places=2)
    offer_status: OfferStatus | None = None


class ApplicationPatch(BaseModel):
    stage: Stage | None = None
    quality_score: int | None = Field(default=None, ge=1, le=5)
    placement_fee: Decimal | None = Field(default=None, ge=0, max_digits=15, decimal_places=2)
    offer_status: OfferStatus | None = None


async def upsert_candidate(
    session: AsyncSession, *, actor: User, data: CandidateIn
) -> tuple[Candidate, bool]:
    """The candidate with this email, created if new: (candidate, created). Race-free on the email."""
    require(actor, Role.RECRUITER, "add candidates")
    email = str(data.email).lower()
    result = await session.execute(
        dialect_insert(session, Candidate)
        .values(
            id=uuid.uuid4(), full_name=data.full_name, email=email, source=data.source, created_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Candidate.id)
    )
    created = result.scalar_one_or_none() is not None
    candidate = await session.scalar(select(Candidate).where(Candidate.email == email))
    assert candidate is not None
    if created:
        audit.record(
            session,
            actor=actor,
            action="candidate.created",
            entity=candidate,
            after=audit.snapshot(candidate),
        )
    return candidate, created


async def _candidate(session: AsyncSession, reference: str) -> Candidate:
    candidate = None
    try:
        candidate = await session.get(Candidate, uuid.UUID(reference))
    except ValueError:
        candidate = await session.scalar(
            select(Candidate).where(Candidate.email == reference.strip().lower())
        )
    if candidate is None:
        raise NotFound(f"No candidate {reference}.")
    return candidate


def _enter_stage(application: Application, stage: Stage) -> None:
    """Move to `stage`, stamping when it happened; an offer counts as made, a hire as accepted."""
    now = utcnow()
    application.stage = stage.value
    application.stage_changed_at = now
    setattr(application, f"{stage.value}_at", now)
    if stage == Stage.OFFERED and application.offer_status is None:
        application.offer_status = "made"
    if stage == Stage.HIRED and application.offer_status in (None, "made"):
        application.offer_status = "accepted"


async def _fill_when_complete(session: AsyncSession, *, actor: User, job: Job) -> None:
    """A job whose hires reach its openings is filled, with the time it happened."""
    if job.status != JobStatus.OPEN.value:
        return
    hires = await session.scalar(
        select(func.count())
        .select_from(Application)
        .where(Application.job_id == job.id, Application.stage == Stage.HIRED.value)
    )
    if (hires or 0) >= job.openings:
        job.status, job.filled_at = JobStatus.FILLED.value, utcnow()
        audit.record(
            session,
            actor=actor,
            action="job.filled",
            entity=job,
            before={"status": "open"},
            after={"status": "filled", "filled_at": audit.jsonable(job.filled_at)},
        )


async def _publish_hire(session: AsyncSession, *, actor: User, job: Job, application: Application) -> None:
    """Tell the channels following the job's client about the hire (in this transaction)."""
    client = await session.get(Client, job.client_id) if job.client_id else None
    if client is None:
        return
    candidate = await session.get(Candidate, application.candidate_id)
    await subscriptions.publish(
        session,
        client,
        SubscriptionEvent.HIRE,
        candidate=candidate.full_name if candidate else None,
        job=job.reference,
        job_title=job.title,
        fee=application.placement_fee if application.placement_fee is not None else job.fee,
        by=actor.slack_user_id,
    )


class AlreadyApplied(Conflict):
    """The candidate is already in the job's pipeline."""

    def __init__(self, message: str, *, job_id: uuid.UUID, candidate_id: uuid.UUID) -> None:
        super().__init__(message)
        self.job_id, self.candidate_id = job_id, candidate_id


async def create_application(session: AsyncSession, *, actor: User, data: ApplicationIn) -> Application:
    require(actor, Role.RECRUITER, "add candidates to jobs")
    job = await get_job(session, data.job_id)
    candidate = await _candidate(session, data.candidate_id)
    already = AlreadyApplied(
        f"{candidate.full_name} is already in the pipeline of {job.reference}.",
        job_id=job.id,
        candidate_id=candidate.id,
    )
    if await session.scalar(
        select(Application.id).where(Application.job_id == job.id, Application.candidate_id == candidate.id)
    ):
        raise already
    application = Application(
        id=uuid.uuid4(),
        job_id=job.id,
        client_id=job.client_id,  # what the trigger sets anyway, for the audit trail and the object
        candidate_id=candidate.id,
        quality_score=data.quality_score,
        placement_fee=data.placement_fee,
        offer_status=data.offer_status,
    )
    _enter_stage(application, data.stage)
    try:
        # A savepoint: the same pair added concurrently fails only this insert, as a conflict.
        async with session.begin_nested():
            session.add(application)
            await session.flush()
    except IntegrityError:
        raise already from None
    audit.record(
        session,
        actor=actor,
        action="application.created",
        entity=application,
        after=audit.snapshot(application),
    )
    if data.stage == Stage.HIRED:
        await _fill_when_complete(session, actor=actor, job=job)
        await _publish_hire(session, actor=actor, job=job, application=application)
    return application


async def update_application(
    session: AsyncSession, *, actor: User, application_id: uuid.UUID, patch: ApplicationPatch
) -> Application:
    """Move a stage and/or rate, record the offer or the fee. Every change is audited."""
    require(actor, Role.RECRUITER, "move candidates")
    application = await session.get(Application, application_id)
    if application is None:
        raise NotFound("No such application.")
    before = audit.snapshot(application)
    if patch.stage is not None and patch.stage.value != application.stage:
        _enter_stage(application, patch.stage)
    for name in ("quality_score", "placement_fee", "offer_status"):
        if name in patch.model_fields_set:
            setattr(application, name, getattr(patch, name))
    await session.flush()
    moved = patch.stage is not None and before["stage"] != application.stage
    action = "application.stage_moved" if moved else "application.updated"
    audit.record_changes(session, actor=actor, action=action, entity=application, before=before)
    if application.stage == Stage.HIRED.value:
        job = await session.get(Job, application.job_id)
        assert job is not None
        await _fill_when_complete(session, actor=actor, job=job)
        if moved:
            await _publish_hire(session, actor=actor, job=job, application=application)
    return application


async def upsert_application(
    session: AsyncSession, *, actor: User, data: ApplicationIn
) -> tuple[Application, bool]:
    """For an ATS: add the candidate to the job, or update the existing application of the pair.
    Returns (application, created). An update goes through `update_application`, so a stage move is
    timestamped and audited like any other; fields absent from `data` are left as they are."""
    try:
        return await create_application(session, actor=actor, data=data), True
    except AlreadyApplied as already:  # there before, or added concurrently: update that one
        existing_id = await session.scalar(
            select(Application.id).where(
                Application.job_id == already.job_id, Application.candidate_id == already.candidate_id
            )
        )
        if existing_id is None:
            raise
    fields = data.model_fields_set & {"stage", "quality_score", "placement_fee", "offer_status"}
    patch = ApplicationPatch.model_validate({name: getattr(data, name) for name in fields})
    application = await update_application(session, actor=actor, application_id=existing_id, patch=patch)
    return application, False
