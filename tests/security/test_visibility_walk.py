"""Issue 11 item 4: one visibility rule (bot.services.clients.can_view / visible_to) on every read path.
Slack guests see no client data whatever their role; recruiters see every client but archived ones; HR
Managers and Admins see all. This walks EVERY read entry point -- slash commands, buttons, pickers, App Home
and the REST API -- as a guest (who holds the manager role and is the clients' account manager, as a manager
later made a guest would be), as a recruiter against an archived client (of which they are, stale, the
account manager) and as a manager, and checks what each was sent."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from bot.models import Client, ClientStatus, Role
from bot.services import api_tokens, clients, communications, feedback, jobs, pipeline
from bot.services.inputs import parse_input
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER, app_idle

pytestmark = pytest.mark.asyncio
GUEST = "UGUESTMGR"

# What each client's records say; none of it may reach someone who may not see that client.
OPEN = ["Sunrise Bakery", "Vera Opencontact", "Open Baker Role", "Vince Opencandidate"]
ARCHIVED = ["Nightfall Archive", "Arlo Archivecontact", "Archived Analyst Role", "Abby Archivecandidate"]
QUIET_CALLS = {"users.info", "auth.test", "conversations.info", "conversations.open"}


async def _client_with_records(session: Any, manager: Any, name: str, words: list[str], ref: str) -> Any:
    record = await factories.client(
        session,
        manager,
        words[0],
        website=None,
        contacts=[{"full_name": words[1], "email": f"{ref.lower()}@{ref.lower()}.example.com"}],
    )
    job = await jobs.create_job(
        session,
        actor=manager,
        data=jobs.parse_job({"reference": ref, "title": words[2], "client_id": record.client_code}),
    )
    person, _ = await pipeline.upsert_candidate(
        session,
        actor=manager,
        data=parse_input(pipeline.CandidateIn, {"full_name": words[3], "email": f"c-{ref.lower()}@x.com"}),
    )
    await pipeline.create_application(
        session,
        actor=manager,
        data=parse_input(
            pipeline.ApplicationIn, {"job_id": ref, "candidate_id": str(person.id), "stage": "shortlisted"}
        ),
    )
    await communications.log(
        session,
        actor=manager,
        client_id=record.id,
        data=communications.parse_communication(
            {
                "communication_type": "call",
                "communication_date": datetime(2026, 11, 2, 10, 0).isoformat() + "Z",
                "subject": f"Call with {words[1]}",
                "notes": f"{words[0]} wants more {words[2]} candidates",
            }
        ),
    )
    rating = dict.fromkeys(
        [
            "responsiveness_rating",
            "communication_rating",
            "requirements_clarity_rating",
            "decision_speed_rating",
            "overall_satisfaction",
        ],
        4,
    )
    await feedback.submit(
        session,
        actor=manager,
        client_id=record.id,
        data=feedback.parse_feedback(rating | {"feedback_period": "2026-Q3"}),
    )
    return record, job


async def world(rt: Any) -> dict[str, Any]:
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.user(session, RECRUITER, Role.RECRUITER)
        guest = await factories.user(session, GUEST, Role.MANAGER)
        guest.is_guest = True  # a Slack guest (restricted account) keeps no right to client data
        open_client, open_job = await _client_with_records(session, manager, "x", OPEN, "JOB-OPEN")
        archived, archived_job = await _client_with_records(session, manager, "x", ARCHIVED, "JOB-ARCH")
        await clients.change_status(
            session, actor=admin, client_id=archived.id, status=ClientStatus.ARCHIVED, reason="Went away"
        )
    return {"open": (open_client, open_job), "archived": (archived, archived_job)}


async def make_account_manager(rt: Any, slack_id: str) -> None:
    """The App Home lists the viewer's own clients: make the viewer their (stale) account manager."""
    async with rt.db.session() as session:
        person = await factories.user(
            session, slack_id, Role.RECRUITER if slack_id == RECRUITER else Role.MANAGER
        )
        await session.execute(update(Client).values(account_manager_id=person.id))


def _sent(fake: Any, replies: list[Any]) -> str:
    calls = [{"m": c.method, "p": c.params} for c in fake.calls if c.method not in QUIET_CALLS]
    uploads = [(u.filename, u.title, u.initial_comment) for u in fake.uploads.values()]
    return json.dumps([calls, fake.responses, uploads, [r.body for r in replies]], default=str)


async def _settled(rt: Any, fake: Any, replies: list[Any]) -> str:
    """Everything the app sent for one request, once the work it acked has finished."""
    assert await app_idle(rt), "the app was still working 30 s after the request"
    return _sent(fake, replies)


def slack_entries(client: Any, job: Any) -> dict[str, Any]:
    """Every Slack read entry point, as (name -> request maker)."""
    cid, code, name = str(client.id), client.client_code, client.name
    view = {"callback_id": "any", "blocks": []}
    card = {"type": "view", "view_id": "VCARD"}

    def cmd(text: str) -> Any:
        return lambda slack, user: slack.command(text, user_id=user)

    def click(action: str, value: str, **extra: Any) -> Any:
        return lambda slack, user: slack.block_action(action, value=value, user_id=user, **extra)

    return {
        "/client list": cmd("list"),
        "/client list status:archived": cmd(f"list status:{client.status}"),
        "/client list NAME": cmd(f"list {name.split()[0]}"),
        "/client show CODE": cmd(f"show {code}"),
        "/client show NAME": cmd(f"show {name.split()[0]}"),
        "/client jobs CODE": cmd(f"jobs {code}"),
        "/client jobs NAME": cmd(f"jobs {name.split()[0]}"),
        "/client history CODE": cmd(f"history {code}"),
        "/client feedback-history CODE": cmd(f"feedback-history {code}"),
        "/client report CODE": cmd(f"report {code} 2026-Q3"),
        "/client export CODE": cmd(f"export {code}"),
        "/client log CODE": cmd(f"log {code}"),
        "/client feedback CODE": cmd(f"feedback {code}"),
        "/client edit CODE": cmd(f"edit {code}"),
        "/client job new CODE": cmd(f"job new {code}"),
        "/client link CODE": cmd(f"link {code}"),
        "Open (list row)": click("client_open", cid),
        "Jobs (card)": click("client_jobs", cid),
        "Jobs in a modal": click("client_jobs", cid, view=view, container=card),
        "Jobs next page": click("client_jobs_page_next", json.dumps({"c": cid, "p": 1})),
        "Candidates": click("job_candidates", str(job.id), view=view, container=card),
        "History (card)": click("comm_history_open", cid),
        "History next page": click("comm_history_page_next", json.dumps({"c": cid, "q": "", "p": 1})),
        "Feedback history (card)": click("feedback_history_open", cid),
        "Feedback PDF": click("feedback_report_pdf", json.dumps({"c": cid, "p": "2026-Q3", "v": "2026-Q2"})),
        "Share in channel": click("dashboard_share", cid),
        "Chart": click("dashboard_chart", cid),
        "Export PDF (card)": click("dashboard_export", cid),
        "Log communication (card)": click("comm_log_open", cid),
        "Give feedback (card)": click("feedback_open", cid),
        "Edit (card)": click("client_edit", cid),
        "Link jobs (card)": click("client_link_jobs", cid),
        "List next page": click("client_list_page_next", json.dumps({"q": "", "p": 1})),
        "Client picker": lambda slack, user: slack.block_suggestion(
            "client_picker", name.split()[0], block_id="client", view=view, user_id=user
        ),
        "Job picker": lambda slack, user: slack.block_suggestion(
            "job_picker", job.title.split()[0], block_id="job", view=view, user_id=user
        ),
        "App Home": lambda slack, user: slack.event({"type": "app_home_opened", "user": user, "tab": "home"}),
    }


async def walk_slack(
    rt: Any, slack: Any, fake: Any, user: str, client: Any, job: Any, only: set[str] | None = None
) -> dict[str, str]:
    seen = {}
    for entry, request in slack_entries(client, job).items():
        if only is not None and entry not in only:
            continue
        fake.reset()
        fake.uploads.clear()
        reply = await request(slack, user)
        seen[entry] = await _settled(rt, fake, [reply])
    return seen


def leaked(text: str, markers: list[str]) -> list[str]:
    return [m for m in markers if m in text]


async def test_a_slack_guest_sees_no_client_anywhere_in_slack(slack, fake, rt) -> None:
    fake.add_user(GUEST, "guest-manager", tz="UTC", real_name=GUEST, guest=True)  # what users.info says
    made = await world(rt)
    await make_account_manager(rt, GUEST)
    # Refused before any lookup: the archived client alike.
    seen = await walk_slack(rt, slack, fake, GUEST, *made["open"])
    leaks = {entry: found for entry, text in seen.items() if (found := leaked(text, OPEN + ARCHIVED))}
    assert leaks == {}


async def test_a_recruiter_sees_no_archived_client_anywhere_in_slack(slack, fake, rt) -> None:
    made = await world(rt)
    await make_account_manager(rt, RECRUITER)
    seen = await walk_slack(rt, slack, fake, RECRUITER, *made["archived"])
    leaks = {entry: found for entry, text in seen.items() if (found := leaked(text, ARCHIVED))}
    assert leaks == {}
    # ...while the open client stays in reach (the rule hides archived ones only).
    reachable = {"/client list", "/client show CODE", "/client jobs CODE", "Candidates", "Client picker"}
    open_seen = await walk_slack(rt, slack, fake, RECRUITER, *made["open"], only=reachable)
    assert {entry for entry, text in open_seen.items() if leaked(text, OPEN)} == reachable


async def test_a_manager_sees_the_archived_client_everywhere_in_slack(slack, fake, rt) -> None:
    made = await world(rt)
    await make_account_manager(rt, MANAGER)
    archived, job = made["archived"]
    seen = await walk_slack(rt, slack, fake, MANAGER, archived, job)
    blind = [e for e, text in seen.items() if not leaked(text, ARCHIVED) and archived.client_code not in text]
    assert blind == []
    # The walk waited for the charts and PDFs drawn after the progress message, not just for that message.
    drawn = {"/client report CODE": ".png", "/client export CODE": ".pdf", "Feedback PDF": ".pdf"}
    drawn |= {"Chart": ".png", "Export PDF (card)": ".pdf"}
    assert {e: kind for e, kind in drawn.items() if kind not in seen[e]} == {}


API_READS = {
    "GET /api/clients": "/api/clients",
    "GET /api/clients?status=archived": "/api/clients?status=archived",
    "GET /api/clients?search=NAME": "/api/clients?search={word}",
    "GET /api/clients/{id}": "/api/clients/{id}",
    "GET /api/clients/{code}": "/api/clients/{code}",
    "GET /api/clients/{id}/jobs": "/api/clients/{id}/jobs",
    "GET /api/clients/{id}/dashboard": "/api/clients/{id}/dashboard",
    "GET /api/clients/{id}/communications": "/api/clients/{id}/communications",
    "GET /api/clients/{id}/feedback": "/api/clients/{id}/feedback",
    "POST /api/clients/{id}/reports/performance": "/api/clients/{id}/reports/performance",
}


async def walk_api(app_url: str, token: str, client: Any) -> dict[str, tuple[int, str]]:
    seen = {}
    async with aiohttp.ClientSession() as http:
        for entry, path in API_READS.items():
            url = app_url + path.format(id=client.id, code=client.client_code, word=client.name.split()[0])
            method = entry.split()[0]
            body = {"period": "2026-Q3"} if method == "POST" else None
            async with http.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            ) as response:
                seen[entry] = (response.status, await response.text())
    return seen


async def test_the_api_applies_the_same_rule(app_url, rt) -> None:
    made = await world(rt)
    archived, _ = made["archived"]
    async with rt.db.session() as session:
        recruiter, _ = await api_tokens.create(session, name="ats", role=Role.RECRUITER)
        manager, _ = await api_tokens.create(session, name="crm", role=Role.MANAGER)
    as_recruiter = await walk_api(app_url, recruiter, archived)
    leaks = {e: (s, found) for e, (s, text) in as_recruiter.items() if (found := leaked(text, ARCHIVED))}
    assert leaks == {}
    for entry in ("GET /api/clients/{id}", "GET /api/clients/{code}", "GET /api/clients/{id}/jobs"):
        assert as_recruiter[entry][0] == 403, (entry, as_recruiter[entry])
    listed = json.loads(as_recruiter["GET /api/clients?status=archived"][1])
    assert listed["clients"] == [] and listed["summary"].get("archived", 0) == 0
    as_manager = await walk_api(app_url, manager, archived)
    assert {e: s for e, (s, _) in as_manager.items() if s != 200} == {}
    figures_only = {"GET /api/clients/{id}/feedback", "POST /api/clients/{id}/reports/performance"}
    blind = [e for e, (_, text) in as_manager.items() if e not in figures_only and not leaked(text, ARCHIVED)]
    assert blind == [], blind
