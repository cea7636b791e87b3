"""How surfaces read (issue 12): the dashboard card's one primary action and *More* menu, last contact,
recent activity with authors and few feedback rows, money in the configured currency, international
phones, names with codes and on-hold → on-hold as no change in the bulk preview; the formatting helpers."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot import clock
from bot.models import Client, ClientFeedback, ClientStatus, Role, User
from bot.services import clients
from tests import factories
from tests.conftest import MANAGER
from tests.test_bulk_slack import make_clients, open_form, picked, preview_of, with_operation
from tests.test_dashboard import seed_account
from views.common import client_label, configure_money, money, phone, relative_day


@pytest.fixture
def settings(settings):
    settings.currency = "EUR"
    yield settings
    configure_money(None)  # the next test's runtime sets it again; pure view tests see the default


def _elements(board: dict) -> list[dict]:
    return [e for b in board["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def _more_feedback(rt, acme, count: int = 5) -> None:
    async with rt.db.session() as session:
        manager = await session.scalar(select(User).where(User.slack_user_id == MANAGER))
        for n in range(count):
            session.add(
                ClientFeedback(
                    client_id=acme.id,
                    feedback_period=f"20{10 + n}-Q1",
                    feedback_date=date(2010 + n, 4, 1),
                    overall_satisfaction=3,
                    submitted_by=manager.id,
                    created_at=clock.now() - timedelta(hours=2 + n),
                )
            )


async def test_the_card_has_one_primary_action_and_the_rest_in_a_menu(slack, fake, rt) -> None:
    acme = await seed_account(rt)
    await _more_feedback(rt, acme)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)
    board = await fake.wait_for_response(slack.last_response_url)
    elements = _elements(board)
    assert len(elements) == 3  # one row on a phone (was nine buttons)
    assert [e["text"]["text"] for e in elements if e.get("style") == "primary"] == ["Log communication"]
    [more] = [e for e in elements if e["type"] == "overflow"]
    kinds = {o["value"].partition(":")[0] for o in more["options"]}
    assert kinds == {"jobs", "export", "chart", "share", "feedback_history"}
    manage = [b["accessory"] for b in board["blocks"] if b.get("accessory", {}).get("type") == "overflow"]
    assert {o["text"]["text"] for o in manage[0]["options"]} == {"Give feedback", "Edit profile"}

    text = json.dumps(board, ensure_ascii=False)
    assert "last contact today (" in text  # the call an hour ago
    assert "€12,000.00" in text  # CLIENTBOT_CURRENCY
    assert "+1 415-555-2671" in text and "+14155552671" not in text  # the contact's phone, readable
    activity = next(
        b["text"]["text"] for b in board["blocks"] if "*Recent activity*" in b.get("text", {}).get("text", "")
    )
    feedback_lines = [line for line in activity.splitlines() if "Feedback for" in line]
    assert len(feedback_lines) == 2 and all(f"<@{MANAGER}>" in line for line in feedback_lines)
    assert "Check-in" in activity

    # *Export PDF* from the menu does what the button did: the PDF goes to the DMs.
    export = next(o for o in more["options"] if o["value"].startswith("export:"))
    url = fake.new_response_url(board)
    await slack.block_action(
        "dashboard_more", selected_option=export, user_id=MANAGER, response_url=url, message=board
    )
    await fake.wait_for("chat.update", lambda c: "is in your DMs" in json.dumps(c.params), timeout=20)
    pdf = next(u for u in fake.uploaded_files() if u.filename.endswith(".pdf"))
    reader = PdfReader(io.BytesIO(pdf.content))
    pages = [page.extract_text() for page in reader.pages]
    assert f"page 1 of {len(pages)}" in pages[0] and "€12,000.00" in "\n".join(pages)


async def test_a_forged_menu_value_does_nothing(slack, fake, rt) -> None:
    acme = await seed_account(rt)
    forged = {"value": f"delete:{acme.id}", "text": {"type": "plain_text", "text": "x"}}
    await slack.block_action("dashboard_more", selected_option=forged, user_id=MANAGER)
    assert fake.calls_to("chat.postMessage") == [] and fake.uploaded_files() == []


async def test_bulk_preview_names_clients_and_skips_a_status_they_already_have(slack, fake, rt) -> None:
    made = await make_clients(rt, 2)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await clients.change_status(
            session, actor=manager, client_id=made[0].id, status=ClientStatus.ON_HOLD, reason="freeze"
        )
    form = await with_operation(slack, fake, await open_form(slack, fake), "change_status")
    values = slack.form_values(
        form, {"operation": "change_status", "status": "on-hold", "reason": "freeze"}
    ) | picked(made)
    preview = json.dumps(await preview_of(slack, fake, form, values), ensure_ascii=False)
    assert f"Bulk Co 0 ({made[0].client_code}) · no change: already on-hold" in preview
    assert f"Bulk Co 1 ({made[1].client_code}) · status active → on-hold" in preview
    assert "on-hold → on-hold" not in preview
    async with rt.db.session() as session:
        assert {c.status for c in await session.scalars(select(Client))} == {"active", "on-hold"}


def test_formatting_helpers() -> None:
    today = date(2028, 2, 29)
    assert [relative_day(today - timedelta(days=n), today) for n in (0, 1, 3, -2, 21, 90, 800)] == [
        "today",
        "yesterday",
        "3 days ago",
        "in 2 days",
        "3 weeks ago",
        "3 months ago",
        "2 years ago",
    ]
    assert client_label("Acme <Ltd>", "CLT-2026-0001") == "Acme &lt;Ltd&gt; (CLT-2026-0001)"
    assert phone("+442079460958") == "+44 20 7946 0958" and phone("not a number") == "not a number"
    assert money(26000, currency="GBP") == "£26,000.00" and money(None) == "—"
