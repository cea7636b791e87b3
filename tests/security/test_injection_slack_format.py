"""Issue 11 item 7: Slack formatting injection. User text (client names, websites, participant ids, file
names) reaches channel posts, modals and notifications only through views.common.escape / link / mention:
`<!channel>`, `<!here>` and `<http://evil|label>` must arrive as literal text, never as markup. Slack's rule:
https://api.slack.com/reference/surfaces/formatting#escaping (`&`, `<`, `>` are control characters)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from bot.models import Client, Role
from bot.services import api_tokens, feedback
from tests import factories
from tests.conftest import MANAGER

pytestmark = pytest.mark.asyncio

EVIL_NAME = "Acme <!channel> <http://evil.example|Click to re-login>"
EVIL_SITE = "https://acme.example.com/>*SPOOF*<!here>|Login"
EVIL_ID = "U1>*x* <!here>"
# What must never appear as markup in anything the app sends.
MARKUP = ("<!channel>", "<!here>", "<http://evil.example", ">*SPOOF*", "<@U1>")


def mrkdwn_texts(payload: Any) -> list[str]:
    """What Slack parses as markup: mrkdwn text objects, a message's `text` (the notification) and file
    comments. plain_text objects (headers, labels, options) are shown verbatim, so they may hold the name."""
    if isinstance(payload, str):
        return [payload]
    found: list[str] = []
    if isinstance(payload, dict):
        if isinstance(payload.get("text"), str) and payload.get("type") in (None, "mrkdwn"):
            found.append(payload["text"])
        for value in payload.values():
            if isinstance(value, dict | list):
                found += mrkdwn_texts(value)
    elif isinstance(payload, list):
        for value in payload:
            found += mrkdwn_texts(value)
    return found


def markup_in(payload: Any) -> list[str]:
    texts = mrkdwn_texts(payload)
    return [m for m in MARKUP if any(m in t for t in texts)]


async def evil_client(rt: Any) -> Any:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, EVIL_NAME, website="https://acme.example.com")
        ratings = dict.fromkeys(
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
            client_id=acme.id,
            data=feedback.parse_feedback(ratings | {"feedback_period": "2026-Q3"}),
        )
    return acme


async def test_share_in_channel_posts_the_name_as_text(slack, fake, rt) -> None:
    acme = await evil_client(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)
    card = await fake.wait_for_response(slack.last_response_url)
    assert markup_in(card) == []
    shared_url = fake.new_response_url()
    await slack.block_action("dashboard_share", value=str(acme.id), user_id=MANAGER, response_url=shared_url)
    shared = await fake.wait_for_response(shared_url)
    assert shared["response_type"] == "in_channel"
    assert markup_in(shared) == []  # neither the notification `text` nor any block
    assert "&lt;!channel&gt;" in shared["text"]  # shown, literally, as what the client is called


async def test_report_and_chart_comments_escape_the_name(slack, fake, rt) -> None:
    acme = await evil_client(rt)
    await slack.command(f"report {acme.client_code} 2026-Q3", user_id=MANAGER)
    await fake.wait_for_response(slack.last_response_url, contains="Performance", timeout=20)
    await slack.block_action("dashboard_chart", value=str(acme.id), user_id=MANAGER)
    await fake.wait_for("files.completeUploadExternal", lambda c: "Pipeline" in str(c.params), timeout=20)
    comments = [u.initial_comment for u in fake.uploaded_files()]
    assert len(comments) == 2 and all(comments)
    assert [markup_in(c) for c in comments] == [[], []]
    assert all("&lt;!channel&gt;" in c for c in comments)


async def _api(app_url: str, rt: Any, method: str, path: str, body: Any) -> tuple[int, dict]:
    async with rt.db.session() as session:
        token, _ = await api_tokens.create(session, name="crm", role=Role.MANAGER)
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, app_url + path, json=body, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return r.status, await r.json()


@pytest.mark.parametrize(
    "website",
    [
        EVIL_SITE,
        "https://acme.example.com/|Login",
        "https://acme.example.com/<x>",
        "https://acme.example.com/ x",
        "https://acme.example.com/\tx",
        'https://acme.example.com/"onmouseover',
        "javascript:alert(1)",
        "ftp://acme.example.com/",
        "data:text/html,hi",
    ],
)
async def test_the_api_refuses_websites_that_break_links(app_url, rt, website: str) -> None:
    status, body = await _api(
        app_url, rt, "POST", "/api/clients", factories.client_input("Acme", website=website)
    )
    assert status == 422, body
    assert "website" in body["error"]["fields"]


async def test_the_client_modal_refuses_the_spoofing_website(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    await slack.command("new", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    values = slack.form_values(
        view,
        {
            "name": "Acme",
            "website": EVIL_SITE,
            "contact_0_name": "Ann",
            "contact_0_email": "ann@acme.example.com",
        },
    )
    reply = await slack.view_submission(view, values, user_id=MANAGER)
    assert reply.json and reply.json["response_action"] == "errors", reply.body
    assert "website" in reply.json["errors"]
    async with rt.db.session() as session:
        assert (await session.scalar(Client.__table__.select().with_only_columns(Client.id))) is None


async def test_a_stored_spoofing_website_renders_as_text(slack, fake, rt) -> None:
    """Rows saved before the check (or by hand) still cannot break out of the link markup."""
    acme = await evil_client(rt)
    async with rt.db.session() as session:
        await session.execute(update(Client).where(Client.id == acme.id).values(website=EVIL_SITE))
    await slack.block_action("client_open", value=str(acme.id), user_id=MANAGER)
    card = await fake.filled(await fake.wait_for("views.open"))
    assert markup_in(card) == []
    assert "&gt;*SPOOF*&lt;!here&gt;|Login" in json.dumps(card, ensure_ascii=False)


async def test_the_api_refuses_a_participant_id_that_is_not_a_slack_id(app_url, rt) -> None:
    acme = await evil_client(rt)
    record = {
        "communication_type": "call",
        "communication_date": datetime(2026, 11, 2, 10, 0).isoformat() + "Z",
        "subject": "Kick-off",
        "participants": [{"slack_user_id": EVIL_ID}],
    }
    status, body = await _api(app_url, rt, "POST", f"/api/clients/{acme.client_code}/communications", record)
    assert status == 422, body
    assert any("slack_user_id" in key for key in body["error"]["fields"]), body
    record["participants"] = [{"slack_user_id": "U012AB3CD"}, {"slack_user_id": "W0ENTERPRISE1"}]
    status, body = await _api(app_url, rt, "POST", f"/api/clients/{acme.client_code}/communications", record)
    assert status == 201, body
