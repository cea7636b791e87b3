"""Client feedback end to end: the modal and its validation, drafts, finalisation rights, period
comparison, the chart and PDF, quarterly reminders with a frozen clock, and retention."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from bot.errors import ValidationFailed
from bot.models import ClientFeedback, ClientStatus, Role
from bot.runtime import Runtime
from bot.scheduler import run_job
from bot.services import clients, feedback
from bot.services.periods import last_completed_quarter
from bot.storage import LocalStorage
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER

RATINGS = {
    "responsiveness_rating": "4",
    "communication_rating": "5",
    "requirements_clarity_rating": "3",
    "decision_speed_rating": "2",
    "overall_satisfaction": "4",
}


@pytest.fixture
def settings(settings):
    settings.digest_channel = "CDIGEST"
    return settings


async def _client(rt, name: str = "Acme", manager_id: str = MANAGER, **extra):
    async with rt.db.session() as session:
        manager = await factories.user(session, manager_id, Role.MANAGER)
        return await factories.client(
            session,
            manager,
            name,
            account_manager_id=manager_id,
            website=None,
            contacts=[{"full_name": "C", "email": f"c@{name.lower().replace(' ', '')}.example.com"}],
            **extra,
        )


async def _open(slack, fake, code: str, user_id: str = MANAGER) -> dict:
    fake.calls.clear()
    await slack.command(f"feedback {code}", user_id=user_id)
    return await fake.filled(await fake.wait_for("views.open"))


async def _rows(rt) -> list[ClientFeedback]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(ClientFeedback)))


async def test_feedback_modal_end_to_end_and_drafts(slack, fake, rt) -> None:
    acme = await _client(rt)
    view = await _open(slack, fake, acme.client_code)
    period_block = next(b for b in view["blocks"] if b.get("block_id") == "feedback_period")
    period = period_block["element"]["initial_option"]["value"]
    assert period == last_completed_quarter(date.today())
    reply = await slack.view_submission(
        view,
        slack.form_values(
            view, RATINGS | {"feedback_period": period, "written_feedback": "Slow to decide, clear briefs."}
        ),
        user_id=MANAGER,
    )
    assert reply.status == 200 and not reply.body
    saved = await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    assert "Saved your" in json.dumps(saved) and "★★★★☆" in json.dumps(saved, ensure_ascii=False)
    [row] = await _rows(rt)
    assert (row.feedback_period, row.overall_satisfaction, row.decision_speed_rating) == (period, 4, 2)

    view = await _open(slack, fake, acme.client_code)
    assert "editing your draft" in json.dumps(view)  # the draft comes back prefilled
    await slack.view_submission(
        view,
        slack.form_values(view, RATINGS | {"feedback_period": period, "overall_satisfaction": "5"}),
        user_id=MANAGER,
    )
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"], contains="Updated")
    [row] = await _rows(rt)
    assert row.overall_satisfaction == 5


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"communication_rating": "0"}, "communication_rating"),
        ({"overall_satisfaction": "6"}, "overall_satisfaction"),
        ({"decision_speed_rating": None}, "decision_speed_rating"),
    ],
)
async def test_ratings_are_validated_in_the_modal(slack, fake, rt, bad, field) -> None:
    acme = await _client(rt)
    view = await _open(slack, fake, acme.client_code)
    values = slack.form_values(view, RATINGS | {"feedback_period": "2026-Q3"})
    values[field]["value"] = {
        "type": "static_select",
        "selected_option": None
        if bad[field] is None
        else {"value": bad[field], "text": {"type": "plain_text", "text": str(bad[field])}},
    }
    reply = await slack.view_submission(view, values, user_id=MANAGER)
    assert reply.json["response_action"] == "errors" and field in reply.json["errors"]
    assert await _rows(rt) == []


async def test_recruiters_cannot_submit_and_finalised_feedback_is_read_only(slack, fake, rt) -> None:
    acme = await _client(rt)
    await slack.command(f"feedback {acme.client_code}", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await feedback.submit(
            session,
            actor=manager,
            client_id=acme.id,
            data=feedback.parse_feedback(RATINGS | {"feedback_period": "2026-Q3"}),
        )
    await slack.command(f"report {acme.client_code} 2026-Q3", user_id=MANAGER)
    report = await fake.wait_for_response(slack.last_response_url, contains="Performance")
    finalize = next(
        e
        for b in report["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "feedback_finalize"
    )
    url = fake.new_response_url()
    await slack.block_action(
        "feedback_finalize", value=finalize["value"], user_id=RECRUITER, response_url=url
    )
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(url))
    assert not (await _rows(rt))[0].is_finalized
    url = fake.new_response_url()
    await slack.block_action("feedback_finalize", value=finalize["value"], user_id=MANAGER, response_url=url)
    assert "Finalised 2026-Q3" in json.dumps(await fake.wait_for_response(url))
    [row] = await _rows(rt)
    assert row.is_finalized and row.finalized_at
    view = await _open(slack, fake, acme.client_code)
    reply = await slack.view_submission(
        view, slack.form_values(view, RATINGS | {"feedback_period": "2026-Q3"}), user_id=MANAGER
    )
    assert "read-only" in reply.json["errors"]["feedback_period"]
    other_manager = "UMANAGER2"
    async with rt.db.session() as session:
        await factories.user(session, other_manager, Role.MANAGER)
    view = await _open(slack, fake, acme.client_code, user_id=other_manager)
    reply = await slack.view_submission(
        view, slack.form_values(view, RATINGS | {"feedback_period": "2026-Q3"}), user_id=other_manager
    )
    assert "read-only" in reply.json["errors"]["feedback_period"]
    assert len(await _rows(rt)) == 1, "a finalised period takes no new submissions"


async def _two_quarters(rt, acme) -> None:
    """Responsiveness: 2026-Q2 = (3 + 4) / 2 = 3.5; 2026-Q3 = (4 + 4 + 4 + 4 + 5) / 5 = 4.2."""
    async with rt.db.session() as session:
        for n, score in enumerate([3, 4]):
            person = await factories.user(session, f"UQ2{n}", Role.MANAGER)
            await feedback.submit(
                session,
                actor=person,
                client_id=acme.id,
                data=feedback.parse_feedback(
                    RATINGS | {"feedback_period": "2026-Q2", "responsiveness_rating": score}
                ),
            )
        for n, score in enumerate([4, 4, 4, 4, 5]):
            person = await factories.user(session, f"UQ3{n}", Role.MANAGER)
            await feedback.submit(
                session,
                actor=person,
                client_id=acme.id,
                data=feedback.parse_feedback(
                    RATINGS
                    | {
                        "feedback_period": "2026-Q3",
                        "responsiveness_rating": score,
                        "written_feedback": f"Note {n}" if n == 0 else None,
                    }
                ),
            )


async def test_report_compares_periods_with_chart_and_pdf(slack, fake, rt) -> None:
    acme = await _client(rt)
    await _two_quarters(rt, acme)
    await slack.command(f"report {acme.client_code} 2026-Q3 vs 2026-Q2", user_id=MANAGER)
    report = await fake.wait_for_response(slack.last_response_url, contains="Performance")
    text = json.dumps(report, ensure_ascii=False)
    assert "*Responsiveness* 3.5 → 4.2 (+0.7)" in text and "*Communication* 5.0 → 5.0 (+0.0)" in text
    chart = next(u for u in fake.uploaded_files() if u.filename.endswith(".png"))
    assert chart.channel_id.startswith("D") and Image.open(io.BytesIO(chart.content)).format == "PNG"
    pdf_button = next(
        e
        for b in report["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "feedback_report_pdf"
    )
    url = fake.new_response_url()
    await slack.block_action(
        "feedback_report_pdf", value=pdf_button["value"], user_id=MANAGER, response_url=url
    )
    # Progress and the PDF go to the DM (one message, updated); the report stays as it is.
    await fake.wait_for("chat.update", lambda c: "is in your DMs" in json.dumps(c.params), timeout=20)
    pdf = next(u for u in fake.uploaded_files() if u.filename.endswith(".pdf"))
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Acme" in text and "2026-Q3" in text and "+0.70" in text and "3.50" in text and "Note 0" in text


async def test_report_grammar_and_rights(slack, fake, rt) -> None:
    acme = await _client(rt)
    await _two_quarters(rt, acme)
    await slack.command(f"report {acme.client_code} 2026-Q3 VS 2026-Q2", user_id=MANAGER)
    report = await fake.wait_for_response(slack.last_response_url, contains="Performance")
    assert "3.5 → 4.2 (+0.7)" in json.dumps(report, ensure_ascii=False)
    for wrong in ("2026-Q3 2026-Q2", "2026-Q3 vs", "2026-Q3 vs 2026-Q2 extra"):
        await slack.command(f"report {acme.client_code} {wrong}", user_id=MANAGER)
        assert "Usage" in json.dumps(await fake.wait_for_response(slack.last_response_url)), wrong
    uploads = len(fake.uploaded_files())
    await slack.command(f"report {acme.client_code} 2026-Q3", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(
        await fake.wait_for_response(slack.last_response_url, contains="Only")
    )
    assert len(fake.uploaded_files()) == uploads


async def test_feedback_history_lists_periods(slack, fake, rt) -> None:
    acme = await _client(rt)
    await _two_quarters(rt, acme)
    await slack.command(f"feedback-history {acme.client_code}", user_id=RECRUITER)
    text = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert (
        text.index("2026-Q3") < text.index("2026-Q2")
        and "5 response(s)" in text
        and "Responsiveness 4.2" in text
    )


async def test_quarterly_reminder_right_people_right_clients_once(rt, fake, settings) -> None:
    acme = await _client(rt, "Acme")
    globex = await _client(rt, "Globex")
    done = await _client(rt, "Done Co")
    dormant = await _client(rt, "Dormant")
    other = await _client(rt, "Initech", manager_id="UOTHERMGR")
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.client(
            session,
            manager,
            "Unmanaged",
            website=None,
            contacts=[{"full_name": "U", "email": "u@unmanaged.example.com"}],
        )
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        await feedback.submit(
            session,
            actor=manager,
            client_id=done.id,
            data=feedback.parse_feedback(RATINGS | {"feedback_period": "2026-Q3"}),
        )
        await clients.change_status(
            session, actor=admin, client_id=dormant.id, status=ClientStatus.INACTIVE, reason="paused"
        )
    first_day = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # a Thursday: the first working day of 2026-Q4
    assert "not the first working day" in await run_job(
        rt, "quarterly_feedback_reminder", datetime(2026, 10, 2, 9, 0, tzinfo=UTC)
    )
    assert fake.calls_to("chat.postMessage") == []
    result = await run_job(rt, "quarterly_feedback_reminder", first_day)
    assert result == "reminded 2 manager(s) about 3 client(s) for 2026-Q3"
    dms = {c.params["channel"]: json.dumps(c.params) for c in fake.calls_to("chat.postMessage")}
    mine = dms["D" + MANAGER[:10]]
    assert acme.client_code in mine and globex.client_code in mine and "Give feedback" in mine
    assert done.client_code not in mine and dormant.client_code not in mine and other.client_code not in mine
    assert other.client_code in dms["DUOTHERMGR"] and "2026-Q3" in dms["CDIGEST"]
    restarted = Runtime(settings=settings, db=rt.db, storage=LocalStorage(settings.storage_dir))
    assert "already sent" in await run_job(restarted, "quarterly_feedback_reminder", first_day)
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_reminder_button_opens_the_modal(slack, fake, rt) -> None:
    acme = await _client(rt)
    await slack.block_action("feedback_open", value=str(acme.id), user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    assert view["callback_id"] == "feedback_form" and acme.client_code in json.dumps(view)


async def test_retention_removes_feedback_older_than_five_years(rt) -> None:
    acme = await _client(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        for n, day in enumerate([date(2020, 1, 10), date(2021, 12, 1), date(2026, 1, 5)]):
            person = await factories.user(session, f"URET{n}", Role.MANAGER)
            await feedback.submit(
                session,
                actor=person,
                client_id=acme.id,
                today=day,
                data=feedback.parse_feedback(RATINGS | {"feedback_period": f"{day.year}-Q1"}),
            )
        assert manager
    result = await run_job(rt, "feedback_retention", datetime(2026, 12, 1, 3, 30, tzinfo=UTC))
    assert result == "removed 1 feedback row(s) older than 5 years"
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ClientFeedback)) == 2


@pytest.mark.parametrize("period", ["", "   ", "2026-Q5"])
def test_feedback_needs_a_real_period(period: str) -> None:
    """A stored blank period would break every later listing and report of the client's feedback."""
    with pytest.raises(ValidationFailed) as caught:
        feedback.parse_feedback(RATINGS | {"feedback_period": period})
    assert set(caught.value.fields) == {"feedback_period"}
