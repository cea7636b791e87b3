"""Jobs in Slack: the job modal with its client picker, the jobs list, link/unlink, drill-down."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import ClientJobAssignment, Job, Role
from bot.services import jobs, pipeline
from bot.services.inputs import parse_input
from tests import factories
from tests.conftest import MANAGER, RECRUITER


async def _acme(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
    return manager, acme


async def test_job_new_links_at_creation(slack, fake, rt) -> None:
    _, acme = await _acme(rt)
    await slack.command(f"job new {acme.client_code}", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    assert acme.client_code in json.dumps(view)  # the picker starts on the client
    options = await slack.block_suggestion(
        "client_picker", "acm", block_id="client", view=view, user_id=MANAGER
    )
    assert [o["value"] for o in options.json["options"]] == [str(acme.id)]
    values = slack.form_values(view, {"title": "Backend Engineer", "openings": "2", "status": "open"})
    values["client"] = {
        "client_picker": {
            "type": "external_select",
            "selected_option": {
                "value": str(acme.id),
                "text": {"type": "plain_text", "text": acme.client_code},
            },
        }
    }
    reply = await slack.view_submission(view, values, user_id=MANAGER)
    assert reply.status == 200 and not reply.body
    answer = await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    assert "JOB-" in json.dumps(answer)
    async with rt.db.session() as session:
        job = await session.scalar(select(Job))
        assignment = await session.scalar(select(ClientJobAssignment))
    assert job.client_id == acme.id and job.openings == 2 and assignment.is_active


async def test_job_modal_validates_in_place(slack, fake, rt) -> None:
    await _acme(rt)
    await slack.command("job new", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    reply = await slack.view_submission(
        view, slack.form_values(view, {"title": " ", "status": "open"}), user_id=MANAGER
    )
    assert reply.json["response_action"] == "errors" and "title" in reply.json["errors"]


async def test_link_unlink_and_list_from_slack(slack, fake, rt) -> None:
    manager, acme = await _acme(rt)
    async with rt.db.session() as session:
        actor = await session.merge(manager)
        for ref in ("JOB-1", "JOB-2"):
            await jobs.create_job(session, actor=actor, data=jobs.parse_job({"reference": ref, "title": ref}))
    await slack.command(f"link {acme.client_code} JOB-1 job-2 JOB-404", user_id=MANAGER)
    linked = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "`JOB-1`, `JOB-2`" in linked and "No such job: `JOB-404`" in linked
    await slack.command(f"unlink {acme.client_code} JOB-2", user_id=MANAGER)
    assert "Unlinked `JOB-2`" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command(f"jobs {acme.client_code}", user_id=RECRUITER)
    listing = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert (
        "JOB-1" in listing and "JOB-2" not in listing and "Link jobs" not in listing
    )  # recruiters can't link
    await slack.command(f"link {acme.client_code} JOB-2", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_card_jobs_and_candidates_drill_down(slack, fake, rt) -> None:
    manager, acme = await _acme(rt)
    async with rt.db.session() as session:
        actor = await session.merge(manager)
        job = await jobs.create_job(
            session,
            actor=actor,
            data=jobs.parse_job({"reference": "JOB-9", "title": "Analyst", "client_id": acme.client_code}),
        )
        person, _ = await pipeline.upsert_candidate(
            session,
            actor=actor,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Zed Candidate", "email": "zed@x.com"}),
        )
        await pipeline.create_application(
            session,
            actor=actor,
            data=parse_input(
                pipeline.ApplicationIn,
                {"job_id": "JOB-9", "candidate_id": str(person.id), "stage": "shortlisted"},
            ),
        )
    await slack.command(f"show {acme.client_code}", user_id=RECRUITER)
    card = await fake.wait_for_response(slack.last_response_url)
    jobs_button = next(  # the card's *More* menu
        o
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        for o in e.get("options", [])
        if o["value"].startswith("jobs:")
    )
    await slack.block_action(
        "dashboard_more",
        selected_option=jobs_button,
        user_id=RECRUITER,
        response_url=fake.new_response_url(),
        message=card,
    )
    jobs_view = await fake.filled(await fake.wait_for("views.open"))
    assert "JOB-9" in json.dumps(jobs_view)
    await slack.block_action("job_candidates", value=str(job.id), user_id=RECRUITER, view=jobs_view)
    pushed = json.dumps(await fake.filled(await fake.wait_for("views.push")))
    assert "Zed Candidate" in pushed and "Shortlisted" in pushed


async def test_link_modal_never_moves_silently(slack, fake, rt) -> None:
    manager, acme = await _acme(rt)
    async with rt.db.session() as session:
        actor = await session.merge(manager)
        globex = await factories.client(
            session,
            actor,
            "Globex",
            website=None,
            contacts=[{"full_name": "G", "email": "g@globex.example.com"}],
        )
        await jobs.create_job(
            session,
            actor=actor,
            data=jobs.parse_job({"reference": "JOB-G", "title": "Taken", "client_id": globex.client_code}),
        )
        await jobs.create_job(
            session, actor=actor, data=jobs.parse_job({"reference": "JOB-F", "title": "Free"})
        )
    await slack.command(f"link {acme.client_code}", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    options = await slack.block_suggestion("job_picker", "job-", block_id="jobs", view=view, user_id=MANAGER)
    assert {o["value"] for o in options.json["options"]} == {"JOB-G", "JOB-F"}
    picked = {
        "jobs": {
            "job_picker": {
                "type": "multi_external_select",
                "selected_options": [
                    {"value": r, "text": {"type": "plain_text", "text": r}} for r in ("JOB-G", "JOB-F")
                ],
            }
        }
    }
    reply = await slack.view_submission(view, picked, user_id=MANAGER)
    assert reply.json["response_action"] == "errors" and "JOB-G" in reply.json["errors"]["move"]
    async with rt.db.session() as session:
        assert (await jobs.get_job(session, "JOB-F")).client_id is None  # nothing half-done
    move = {
        "move": {
            "value": {
                "type": "checkboxes",
                "selected_options": [{"value": "move", "text": {"type": "plain_text", "text": "move"}}],
            }
        }
    }
    reply = await slack.view_submission(view, picked | move, user_id=MANAGER)
    assert reply.status == 200 and not reply.body
    done = await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    assert "`JOB-G`, `JOB-F`" in json.dumps(done)
    async with rt.db.session() as session:
        assert (await jobs.get_job(session, "JOB-G")).client_id == acme.id
        assert (await jobs.get_job(session, "JOB-F")).client_id == acme.id


async def test_client_picker_offers_what_client_log_accepts_and_nothing_to_guests(slack, fake, rt) -> None:
    """Recruiters: every client but archived ones; managers: all; Slack guests: none."""
    from bot.models import Client, User

    manager, acme = await _acme(rt)
    async with rt.db.session() as session:
        await factories.user(session, RECRUITER, Role.RECRUITER)
        guest = await factories.user(session, "UGUEST", Role.MANAGER)
        guest.is_guest = True
        paused = await factories.client(
            session,
            manager,
            "Acme Paused",
            website=None,
            contacts=[{"full_name": "P", "email": "p@gmail.com"}],
        )
        old = await factories.client(
            session, manager, "Acme Old", website=None, contacts=[{"full_name": "O", "email": "o@gmail.com"}]
        )
        (await session.get(Client, paused.id)).status = "inactive"
        (await session.get(Client, old.id)).status = "archived"
    await slack.command(f"job new {acme.client_code}", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))

    async def offered(user_id: str) -> set[str]:
        reply = await slack.block_suggestion(
            "client_picker", "acme", block_id="client", view=view, user_id=user_id
        )
        return {o["value"] for o in reply.json["options"]}

    assert await offered(MANAGER) == {str(acme.id), str(paused.id), str(old.id)}
    assert await offered(RECRUITER) == {str(acme.id), str(paused.id)}
    assert await offered("UGUEST") == set()
    job_reply = await slack.block_suggestion(
        "job_picker", "job", block_id="jobs", view=view, user_id="UGUEST"
    )
    assert job_reply.json["options"] == []
    async with rt.db.session() as session:
        assert (await session.scalar(select(User).where(User.slack_user_id == "UGUEST"))).is_guest
