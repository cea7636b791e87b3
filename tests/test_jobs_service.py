"""Jobs, linking and the candidate pipeline at the service layer, and the per-client analytics on a
hand-computed fixture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from bot.errors import Conflict, PermissionDenied, ValidationFailed
from bot.models import Application, AuditLog, ClientJobAssignment, Job, Role, utcnow
from bot.services import analytics, jobs, pipeline
from bot.services.inputs import parse_input
from tests import factories


async def _setup(session):
    manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    acme = await factories.client(session, manager, "Acme")
    globex = await factories.client(
        session,
        manager,
        "Globex",
        website=None,
        contacts=[{"full_name": "G", "email": "g@globex.example.com"}],
    )
    return manager, acme, globex


async def test_job_linked_at_creation_with_assignment_and_audit(db) -> None:
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        job = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"title": "Backend Engineer", "client_id": acme.client_code}),
        )
        assert job.reference.startswith("JOB-") and job.client_id == acme.id
        assignment = await session.scalar(select(ClientJobAssignment))
        assert (assignment.client_id, assignment.assigned_by, assignment.is_active) == (
            acme.id,
            manager.id,
            True,
        )
        actions = list(
            await session.scalars(
                select(AuditLog.action).where(AuditLog.entity_id == job.id).order_by(AuditLog.created_at)
            )
        )
        assert actions == ["job.created", "job.linked"]


async def test_bulk_link_is_idempotent_and_conflicts_are_explicit(db) -> None:
    async with db.session() as session:
        manager, acme, globex = await _setup(session)
        for n in range(3):
            await jobs.create_job(
                session, actor=manager, data=jobs.parse_job({"reference": f"J-{n}", "title": "T"})
            )
        await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "J-G", "title": "T", "client_id": globex.client_code}),
        )
        first = await jobs.link_jobs(
            session, actor=manager, client_id=acme.id, references=["j-0", "J-1", "J-2", "J-G", "J-404"]
        )
        assert first.linked == ["J-0", "J-1", "J-2"]
        assert first.conflicts == [("J-G", globex.client_code)] and first.not_found == ["J-404"]
        again = await jobs.link_jobs(session, actor=manager, client_id=acme.id, references=["J-0", "J-1"])
        assert again.linked == [] and again.already == ["J-0", "J-1"]
        assert await session.scalar(select(func.count()).select_from(ClientJobAssignment)) == 4
        moved = await jobs.link_jobs(session, actor=manager, client_id=acme.id, references=["J-G"], move=True)
        assert moved.linked == ["J-G"]
        old = await session.scalar(
            select(ClientJobAssignment).where(ClientJobAssignment.client_id == globex.id)
        )
        assert old.is_active is False and old.unassigned_by == manager.id and old.unassigned_at


async def test_unlink_keeps_the_trail(db) -> None:
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "J-1", "title": "T", "client_id": acme.client_code}),
        )
        job = await jobs.unlink_job(session, actor=manager, client_id=acme.id, reference="J-1")
        assert job.client_id is None
        assignment = await session.scalar(select(ClientJobAssignment))
        assert assignment.is_active is False and assignment.unassigned_by == manager.id
        assert await session.scalar(select(AuditLog).where(AuditLog.action == "job.unlinked"))
        with pytest.raises(Conflict):
            await jobs.unlink_job(session, actor=manager, client_id=acme.id, reference="J-1")
        await jobs.link_jobs(session, actor=manager, client_id=acme.id, references=["J-1"])
        assert (await session.scalar(select(ClientJobAssignment))).is_active is True


async def test_recruiter_cannot_link(db) -> None:
    async with db.session() as session:
        _, acme, _ = await _setup(session)
        recruiter = await factories.user(session, "URECRUITER")
        with pytest.raises(PermissionDenied):
            await jobs.link_jobs(session, actor=recruiter, client_id=acme.id, references=["J-1"])


async def test_five_hundred_jobs_on_one_client(db) -> None:
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        refs = [f"BULK-{n:03d}" for n in range(500)]
        session.add_all(Job(reference=r, title="Role", owner_id=manager.id) for r in refs)
        await session.flush()
        result = await jobs.link_jobs(session, actor=manager, client_id=acme.id, references=refs)
        assert len(result.linked) == 500
        page = await jobs.client_jobs(session, client_id=acme.id, page=25)
        assert (page.total, page.pages, len(page.rows)) == (500, 25, 20)


async def test_stage_moves_are_timestamped_and_audited(db) -> None:
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        job = await jobs.create_job(
            session, actor=manager, data=jobs.parse_job({"title": "T", "client_id": acme.client_code})
        )
        candidate, created = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Ann", "email": "A@x.com"}),
        )
        assert created
        same, created_again = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Ann", "email": "a@x.com"}),
        )
        assert same.id == candidate.id and not created_again
        app = await pipeline.create_application(
            session,
            actor=manager,
            data=parse_input(
                pipeline.ApplicationIn, {"job_id": job.reference, "candidate_id": str(candidate.id)}
            ),
        )
        assert app.screened_at and app.stage == "screened"
        for stage in ("shortlisted", "interviewed", "offered", "hired"):
            app = await pipeline.update_application(
                session, actor=manager, application_id=app.id, patch=pipeline.ApplicationPatch(stage=stage)
            )
            assert getattr(app, f"{stage}_at") is not None
        assert app.offer_status == "accepted"
        assert (await session.get(Job, job.id)).status == "filled"
        moves = list(
            await session.scalars(
                select(AuditLog)
                .where(AuditLog.action == "application.stage_moved")
                .order_by(AuditLog.created_at)
            )
        )
        assert [m.after["stage"] for m in moves] == ["shortlisted", "interviewed", "offered", "hired"]
        with pytest.raises(ValidationFailed):
            parse_input(pipeline.ApplicationPatch, {"quality_score": 6})


async def test_a_jobs_latest_move_follows_its_applications_in_play(db, clock) -> None:
    """jobs.pipeline_moved_at (migration 0020's trigger, read by a client's health) is the newest
    stage_changed_at among the job's applications still in play, whichever way they are written."""
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        job = await jobs.create_job(
            session, actor=manager, data=jobs.parse_job({"title": "T", "client_id": acme.client_code})
        )

        async def latest_move():
            return await session.scalar(select(Job.pipeline_moved_at).where(Job.id == job.id))

        async def moved_at(application):
            return await session.scalar(
                select(Application.stage_changed_at).where(Application.id == application.id)
            )

        assert await latest_move() is None
        applied = []
        for name in ("Ann", "Bob"):
            candidate, _ = await pipeline.upsert_candidate(
                session,
                actor=manager,
                data=parse_input(pipeline.CandidateIn, {"full_name": name, "email": f"{name}@x.com"}),
            )
            ids = {"job_id": job.reference, "candidate_id": str(candidate.id)}
            applied.append(
                await pipeline.create_application(
                    session, actor=manager, data=parse_input(pipeline.ApplicationIn, ids)
                )
            )
            assert await latest_move() == await moved_at(applied[-1])
            clock.shift(timedelta(hours=1))
        ann, bob = applied

        async def move(application, stage):
            patch = pipeline.ApplicationPatch(stage=stage)
            await pipeline.update_application(
                session, actor=manager, application_id=application.id, patch=patch
            )
            clock.shift(timedelta(hours=1))

        await move(ann, "interviewed")  # in play, now the newest
        assert await latest_move() == await moved_at(ann) > await moved_at(bob)
        await move(ann, "rejected")  # out of play: back to Bob's move
        assert await latest_move() == await moved_at(bob)
        await move(bob, "hired")  # nobody in play
        assert await latest_move() is None
        await session.delete(await session.get(Application, ann.id))
        await session.flush()
        session.add(
            Application(
                job_id=job.id, candidate_id=ann.candidate_id, stage="offered", stage_changed_at=utcnow()
            )
        )
        await session.flush()  # written straight, as an import or a fixture would
        assert await latest_move() is not None
        await session.delete(await session.get(Application, bob.id))
        await session.flush()
        assert await latest_move() is not None


async def test_applications_carry_their_jobs_client_through_links_and_moves(db) -> None:
    """applications.client_id (migration 0021's triggers, read by the card's timeline) is the client of the
    application's job: when written, when the job is unlinked or linked, and when it moves to another job."""
    async with db.session() as session:
        manager, acme, globex = await _setup(session)
        job = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "J-1", "title": "T", "client_id": acme.client_code}),
        )
        other = await jobs.create_job(
            session, actor=manager, data=jobs.parse_job({"reference": "J-2", "title": "U"})
        )
        candidate, _ = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Ann", "email": "a@x.com"}),
        )
        ids = {"job_id": job.reference, "candidate_id": str(candidate.id)}
        by_service = await pipeline.create_application(
            session, actor=manager, data=parse_input(pipeline.ApplicationIn, ids)
        )
        bob, _ = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Bob", "email": "b@x.com"}),
        )
        session.add(Application(job_id=job.id, candidate_id=bob.id, stage="screened"))  # as a fixture would
        await session.flush()

        async def clients_of_applications(job_id):
            query = select(Application.client_id).where(Application.job_id == job_id)
            return set(await session.scalars(query))

        assert await clients_of_applications(job.id) == {acme.id}
        assert by_service.client_id == acme.id
        await jobs.unlink_job(session, actor=manager, client_id=acme.id, reference="J-1")
        assert await clients_of_applications(job.id) == {None}
        await jobs.link_jobs(session, actor=manager, client_id=globex.id, references=["J-1"])
        assert await clients_of_applications(job.id) == {globex.id}
        await session.execute(
            update(Application).where(Application.candidate_id == bob.id).values(job_id=other.id)
        )
        assert await clients_of_applications(other.id) == {None}  # J-2 belongs to no client
        # the move took Bob's screening with it: each job's latest move in play (migration 0020) follows
        moves = dict((await session.execute(select(Job.id, Job.pipeline_moved_at))).all())
        bob_moved = await session.scalar(
            select(Application.stage_changed_at).where(Application.candidate_id == bob.id)
        )
        assert moves[other.id] == bob_moved and moves[job.id] == by_service.stage_changed_at != bob_moved


async def test_analytics_match_a_hand_computed_fixture(db) -> None:
    """Three filled jobs (10, 20 and 60 days: mean 30, median 20, so mean and median differ), one open
    (2 openings), one on hold; six applications."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.session() as session:
        manager, acme, globex = await _setup(session)

        def job(ref: str, status: str, days: int | None, fee: str | None, openings: int = 1) -> Job:
            filled = start + timedelta(days=days) if days is not None else None
            return Job(
                reference=ref,
                title=ref,
                client_id=acme.id,
                status=status,
                openings=openings,
                opened_at=start,
                filled_at=filled,
                fee=Decimal(fee) if fee else None,
                owner_id=manager.id,
            )

        jobs_ = [
            job("F1", "filled", 10, "5000"),
            job("F2", "filled", 20, None),
            job("F3", "filled", 60, None),
            job("O1", "open", None, None, 2),
            job("H1", "on-hold", None, None),
        ]
        other = Job(
            reference="X1",
            title="X",
            client_id=globex.id,
            status="filled",
            opened_at=start,
            filled_at=start + timedelta(days=99),
            owner_id=manager.id,
        )
        session.add_all([*jobs_, other])
        await session.flush()
        people = []
        for n in range(5):
            person, _ = await pipeline.upsert_candidate(
                session,
                actor=manager,
                data=parse_input(pipeline.CandidateIn, {"full_name": f"C{n}", "email": f"c{n}@x.com"}),
            )
            people.append(person)

        def app(
            job_: Job,
            n: int,
            stage: str,
            score: int | None = None,
            fee: str | None = None,
            offer: str | None = None,
        ) -> Application:
            return Application(
                job_id=job_.id,
                candidate_id=people[n].id,
                stage=stage,
                quality_score=score,
                placement_fee=Decimal(fee) if fee else None,
                offer_status=offer,
            )

        f1, f2, _f3, o1, _h1 = jobs_
        session.add_all(
            [
                app(f1, 0, "hired", 5, None, "accepted"),  # revenue falls back to the job fee 5000
                app(f2, 1, "hired", 4, "7000.50", "accepted"),
                app(f1, 2, "rejected", 2, None, "declined"),
                app(o1, 0, "offered", None, None, "made"),  # candidate 0 again: 5 distinct candidates in all
                app(o1, 3, "interviewed", 3),
                app(o1, 4, "screened"),
                app(other, 4, "hired", 1, "99999"),  # another client's: must not count
            ]
        )
        await session.flush()
        result = await analytics.client_job_analytics(session, acme.id)
    assert (result.total_jobs, result.active_jobs, result.open_positions) == (5, 2, 2)
    assert result.pipeline == {
        "screened": 1,
        "shortlisted": 0,
        "interviewed": 1,
        "offered": 1,
        "hired": 2,
        "rejected": 1,
    }
    assert (result.total_candidates, result.placements) == (5, 2)
    assert result.revenue == Decimal("12000.50")
    assert result.avg_time_to_fill_days == 30.0  # (10 + 20 + 60) / 3
    assert result.median_time_to_fill_days == 20.0
    assert result.avg_quality_score == 3.5  # (5 + 4 + 2 + 3) / 4
    assert (result.offers, result.offers_accepted, result.offer_acceptance_rate) == (4, 2, 0.5)

    # A fourth fill (62 days): an even count, the median is the mean of the middle two.
    async with db.session() as session:
        session.add_all([job("F4", "filled", 62, None), job("F5", "open", None, None)])  # F5: no fill time
        await session.flush()
        again = await analytics.client_job_analytics(session, acme.id)
    assert again.median_time_to_fill_days == 40.0  # (20 + 60) / 2
    assert again.avg_time_to_fill_days == 38.0  # (10 + 20 + 60 + 62) / 4


async def test_generated_reference_skips_references_supplied_earlier(db) -> None:
    """An ATS sent JOB-YYYY-0001..0003 explicitly: the next generated reference must not collide."""
    async with db.session() as session:
        manager, _acme, _ = await _setup(session)
        year = datetime.now(UTC).year
        for n in (1, 2, 3, 5):
            await jobs.create_job(
                session,
                actor=manager,
                data=jobs.parse_job({"reference": f"JOB-{year}-{n:04d}", "title": "Imported"}),
            )
        made = [
            (await jobs.create_job(session, actor=manager, data=jobs.parse_job({"title": "New"}))).reference
            for _ in range(3)
        ]
        assert made == [f"JOB-{year}-0004", f"JOB-{year}-0006", f"JOB-{year}-0007"]
        with pytest.raises(Conflict):
            await jobs.create_job(
                session, actor=manager, data=jobs.parse_job({"reference": made[0], "title": "Again"})
            )
        assert await session.scalar(select(func.count()).select_from(Job)) == 7


async def test_job_created_filled_is_stamped_and_counts_in_time_to_fill(db) -> None:
    async with db.session() as session:
        manager, acme, _ = await _setup(session)
        job = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"title": "Done", "status": "filled", "client_id": acme.client_code}),
        )
        assert job.filled_at is not None and job.filled_at >= job.opened_at
        given = datetime(2026, 2, 1, tzinfo=UTC)
        other = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job(
                {"title": "Done", "status": "filled", "opened_at": "2026-01-01", "filled_at": "2026-02-01"}
            ),
        )
        assert other.filled_at == given
        result = await analytics.client_job_analytics(session, acme.id)
        assert result.avg_time_to_fill_days is not None


async def test_upsert_job_creates_then_updates_through_update_job(db) -> None:
    async with db.session() as session:
        manager, acme, globex = await _setup(session)
        job, created = await jobs.upsert_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "ATS-1", "title": "Engineer", "fee": "5000"}),
        )
        assert created and job.status == "open"
        again, created = await jobs.upsert_job(
            session,
            actor=manager,
            data=jobs.parse_job(
                {
                    "reference": "ats-1",
                    "title": "Senior Engineer",
                    "status": "filled",
                    "client_id": acme.id.hex,
                }
            ),
        )
        assert not created and again.id == job.id
        # update_job's rules applied: filled stamped; fields not sent (fee) kept; linked to the client.
        assert again.title == "Senior Engineer" and again.filled_at is not None
        assert again.fee == Decimal("5000") and again.client_id == acme.id
        actions = list(
            await session.scalars(
                select(AuditLog.action).where(AuditLog.entity_id == job.id).order_by(AuditLog.created_at)
            )
        )
        assert actions == ["job.created", "job.updated", "job.linked"]
        # Linked elsewhere: an explicit move is needed, the job stays where it is.
        with pytest.raises(Conflict):
            await jobs.upsert_job(
                session,
                actor=manager,
                data=jobs.parse_job({"reference": "ATS-1", "title": "X", "client_id": globex.client_code}),
            )
        assert (await session.get(Job, job.id)).client_id == acme.id
        assert await session.scalar(select(func.count()).select_from(Job)) == 1


async def test_upsert_application_updates_the_pair_with_an_audited_stage_move(db) -> None:
    async with db.session() as session:
        manager, _acme, _ = await _setup(session)
        job = await jobs.create_job(session, actor=manager, data=jobs.parse_job({"title": "T"}))
        candidate, _ = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=parse_input(pipeline.CandidateIn, {"full_name": "A", "email": "a@x.com"}),
        )
        ids = {"job_id": job.reference, "candidate_id": str(candidate.id)}
        first, created = await pipeline.upsert_application(
            session, actor=manager, data=parse_input(pipeline.ApplicationIn, {**ids, "quality_score": 4})
        )
        assert created and first.stage == "screened"
        second, created = await pipeline.upsert_application(
            session, actor=manager, data=parse_input(pipeline.ApplicationIn, {**ids, "stage": "interviewed"})
        )
        assert not created and second.id == first.id
        assert second.stage == "interviewed" and second.interviewed_at and second.quality_score == 4
        moves = list(
            await session.scalars(select(AuditLog).where(AuditLog.action == "application.stage_moved"))
        )
        assert [m.after["stage"] for m in moves] == ["interviewed"]
        assert await session.scalar(select(func.count()).select_from(Application)) == 1
        with pytest.raises(Conflict):  # the plain create still refuses a second application
            await pipeline.create_application(
                session, actor=manager, data=parse_input(pipeline.ApplicationIn, ids)
            )


async def test_concurrent_links_to_two_clients_never_move_the_job(db, is_postgres: bool) -> None:
    """Two links of one job to different clients at once: one wins, the other is a conflict (rows are
    locked with SELECT ... FOR UPDATE). PostgreSQL only: SQLite serialises writers anyway."""
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    import asyncio

    async with db.session() as session:
        manager, acme, globex = await _setup(session)
        await jobs.create_job(
            session, actor=manager, data=jobs.parse_job({"reference": "RACE-1", "title": "T"})
        )

    async def link(client_id):
        async with db.session() as session:
            actor = await session.get(type(manager), manager.id)
            result = await jobs.link_jobs(session, actor=actor, client_id=client_id, references=["RACE-1"])
            await asyncio.sleep(0.2)  # hold the lock while the other one tries
            return result

    results = await asyncio.gather(link(acme.id), link(globex.id))
    assert sorted(len(r.linked) for r in results) == [0, 1]
    assert sorted(len(r.conflicts) for r in results) == [0, 1]
    async with db.session() as session:
        job = await jobs.get_job(session, "RACE-1")
        winner = acme.id if results[0].linked else globex.id
        assert job.client_id == winner
        active = await session.scalar(
            select(func.count()).select_from(ClientJobAssignment).where(ClientJobAssignment.is_active)
        )
        assert active == 1
