"""The client dashboard: figures on a hand-computed fixture, timeline order, share, chart, PDF, App
Home portfolio, and the nightly snapshot's idempotency."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from bot import render
from bot.models import Application, ClientAnalytics, ClientFeedback, Job, Role
from bot.scheduler import run_job
from bot.services import communications, dashboard, pipeline
from bot.services.inputs import parse_input
from tests import factories
from tests.conftest import MANAGER, RECRUITER, TEST_NOW
from views import dashboard as dashboard_views
from views.common import money

NOW = TEST_NOW.replace(microsecond=0)  # the tests' clock, never the machine's


async def seed_account(rt):
    """Acme: 3 jobs (one filled after 12 days, one open with 2 openings, one cancelled), 4 applications
    (2 hires with fees 5000 and 7000, one offer declined, one screened), a call and a feedback."""
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme Analytics", account_manager_id=MANAGER)
        opened = NOW - timedelta(days=40)
        filled = Job(
            reference="D-1",
            title="Engineer",
            client_id=acme.id,
            status="filled",
            opened_at=opened,
            filled_at=opened + timedelta(days=12),
            fee=Decimal("5000"),
            owner_id=manager.id,
        )
        open_job = Job(
            reference="D-2",
            title="Designer",
            client_id=acme.id,
            status="open",
            openings=2,
            opened_at=NOW - timedelta(days=5),
            owner_id=manager.id,
        )
        cancelled = Job(
            reference="D-3",
            title="Analyst",
            client_id=acme.id,
            status="cancelled",
            opened_at=NOW - timedelta(days=60),
            owner_id=manager.id,
        )
        session.add_all([filled, open_job, cancelled])
        await session.flush()
        people = [
            (
                await pipeline.upsert_candidate(
                    session,
                    actor=manager,
                    data=parse_input(
                        pipeline.CandidateIn, {"full_name": f"Person {n}", "email": f"p{n}@x.com"}
                    ),
                )
            )[0]
            for n in range(4)
        ]
        session.add_all(
            [
                Application(
                    job_id=filled.id,
                    candidate_id=people[0].id,
                    stage="hired",
                    quality_score=5,
                    offer_status="accepted",
                    hired_at=NOW - timedelta(days=28),
                    stage_changed_at=NOW - timedelta(days=28),
                    created_at=NOW - timedelta(days=35),
                ),
                Application(
                    job_id=open_job.id,
                    candidate_id=people[1].id,
                    stage="hired",
                    quality_score=3,
                    placement_fee=Decimal("7000"),
                    offer_status="accepted",
                    hired_at=NOW - timedelta(days=1),
                    stage_changed_at=NOW - timedelta(days=1),
                    created_at=NOW - timedelta(days=4),
                ),
                Application(
                    job_id=open_job.id,
                    candidate_id=people[2].id,
                    stage="rejected",
                    offer_status="declined",
                    stage_changed_at=NOW - timedelta(days=2),
                    created_at=NOW - timedelta(days=3),
                ),
                Application(
                    job_id=open_job.id,
                    candidate_id=people[3].id,
                    stage="screened",
                    stage_changed_at=NOW - timedelta(hours=3),
                    created_at=NOW - timedelta(hours=3),
                ),
            ]
        )
        await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            data=communications.parse_communication(
                {
                    "communication_type": "call",
                    "communication_date": NOW - timedelta(hours=1),
                    "subject": "Check-in",
                    "follow_up_date": (NOW + timedelta(days=2)).date(),
                }
            ),
        )
        session.add(
            ClientFeedback(
                client_id=acme.id,
                feedback_period="2026-Q2",
                feedback_date=date(2026, 7, 1),
                overall_satisfaction=4,
                submitted_by=manager.id,
                created_at=NOW - timedelta(days=10),
            )
        )
    return acme


async def test_dashboard_figures_match_the_fixture(rt) -> None:
    acme = await seed_account(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        board = await dashboard.build(session, actor=manager, client_id=acme.id, today=NOW.date())
    stats = board.stats
    assert (stats.active_jobs, stats.total_jobs, stats.open_positions) == (1, 3, 1)  # 2 openings - 1 hire
    assert (stats.total_candidates, stats.placements, stats.revenue) == (4, 2, Decimal("12000.00"))
    assert stats.pipeline == {
        "screened": 1,
        "shortlisted": 0,
        "interviewed": 0,
        "offered": 0,
        "hired": 2,
        "rejected": 1,
    }
    assert (stats.avg_time_to_fill_days, stats.offer_acceptance_rate, stats.avg_quality_score) == (
        12.0,
        0.6667,  # 2 accepted of 3 offers
        4.0,
    )
    assert [r.subject for r in board.follow_ups] == ["Check-in"]
    kinds = [item.kind for item in board.timeline]
    assert [item.at for item in board.timeline] == sorted((i.at for i in board.timeline), reverse=True)
    assert kinds[0] == "communication" and {"job", "candidate", "stage", "hire", "feedback"} <= set(kinds)
    assert sum(n for _, n in board.hires_by_month) == 2


async def test_show_share_chart_and_pdf_in_slack(slack, fake, rt) -> None:
    acme = await seed_account(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)
    board = await fake.wait_for_response(slack.last_response_url)
    text = json.dumps(board)
    assert "12,000.00" in text and "Check-in" in text and "Share in channel" in text
    more = next(e for b in board["blocks"] if b["type"] == "actions" for e in b["elements"] if "options" in e)
    share = {"value": more["options"][0]["value"].partition(":")[2]}  # the client id
    for action, expect in (
        ("comm_history_open", "History \\u00b7"),
        ("feedback_history_open", "Feedback \\u00b7"),
    ):
        url = fake.new_response_url()
        await slack.block_action(action, value=share["value"], user_id=MANAGER, response_url=url)
        assert expect in json.dumps(await fake.wait_for_response(url)), action
    url = fake.new_response_url()
    await slack.block_action("dashboard_share", value=share["value"], user_id=MANAGER, response_url=url)
    shared = await fake.wait_for_response(url)
    assert shared["response_type"] == "in_channel" and "Acme Analytics" in json.dumps(shared)
    assert "12,000.00" not in json.dumps(shared) and "Revenue" not in json.dumps(
        shared
    )  # private figures stay private

    await slack.block_action("dashboard_chart", value=share["value"], user_id=MANAGER)
    await fake.wait_for("files.completeUploadExternal")
    chart = fake.uploaded_files()[-1]
    assert Image.open(io.BytesIO(chart.content)).format == "PNG" and chart.channel_id.startswith("D")

    url = fake.new_response_url(board)  # the click's response_url belongs to the dashboard message
    await slack.block_action(
        "dashboard_export", value=share["value"], user_id=MANAGER, response_url=url, message=board
    )
    await fake.wait_for("chat.update", lambda c: "is in your DMs" in json.dumps(c.params), timeout=20)
    # Progress is one DM message, posted then updated; the dashboard holding the button stays whole.
    [posted] = fake.calls_to("chat.postMessage")
    steps = [json.dumps(posted.params)] + [json.dumps(c.params) for c in fake.calls_to("chat.update")]
    assert [next(n for n in ("1/3", "2/3", "3/3", "DMs") if n in step) for step in steps] == [
        "1/3",
        "2/3",
        "3/3",
        "DMs",
    ]
    assert fake.original(url) == board
    pdf = next(u for u in fake.uploaded_files() if u.filename.endswith(".pdf"))
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Acme Analytics" in text and acme.client_code in text
    assert "Placements" in text and "12,000.00" in text and "John Doe" in text


async def test_recruiters_see_dashboards_guests_do_not(slack, fake, rt) -> None:
    acme = await seed_account(rt)
    await slack.command(f"show {acme.client_code}", user_id=RECRUITER)
    assert "Acme Analytics" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    fake.add_user("UGUEST", "guest", guest=True)
    await slack.command(f"show {acme.client_code}", user_id="UGUEST")
    assert "guest" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_app_home_portfolio_filters_and_pages(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        for n in range(45):
            await factories.client(
                session,
                manager,
                f"Client {n:02d}",
                website=None,
                account_manager_id=MANAGER,
                contacts=[{"full_name": "C", "email": f"c@c{n}.example.com"}],
            )
    await slack.event({"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"})
    home = (await fake.wait_for("views.publish")).params["view"]
    assert "page 1 of 3" in json.dumps(home) and "Feedback due for" in json.dumps(home)
    nav = next(b for b in home["blocks"] if b.get("block_id") == "home_nav")["elements"][-1]
    await slack.block_action(nav["action_id"], value=nav["value"], user_id=MANAGER, view=home)
    await fake.wait_for("views.publish", lambda c: "page 2 of 3" in json.dumps(c.params["view"]))
    option = {"value": "archived", "text": {"type": "plain_text", "text": "archived"}}
    await slack.block_action("home_filter_status", selected_option=option, user_id=MANAGER, view=home)
    archived = await fake.wait_for(
        "views.publish", lambda c: "No clients of yours match these filters" in json.dumps(c.params["view"])
    )
    assert json.loads(archived.params["view"]["private_metadata"]) == {"status": "archived", "page": 1}
    fake.calls.clear()
    dated = archived.params["view"]
    await slack.block_action(
        "home_filter_status",
        selected_option={"value": "all", "text": {"type": "plain_text", "text": "all"}},
        user_id=MANAGER,
        view=dated,
    )
    everything = (await fake.wait_for("views.publish")).params["view"]
    fake.calls.clear()
    await slack.block_action("home_filter_from", user_id=MANAGER, view=everything)  # no date: unchanged
    await fake.wait_for("views.publish", lambda c: "page 1 of 3" in json.dumps(c.params["view"]))


async def test_nightly_snapshot_is_idempotent(rt) -> None:
    acme = await seed_account(rt)
    midnight = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert "for 2026-11-25" in await run_job(rt, "nightly_analytics", midnight)
    assert "for 2026-11-25" in await run_job(rt, "nightly_analytics", midnight)  # same day again
    async with rt.db.session() as session:
        rows = list(
            await session.scalars(select(ClientAnalytics).where(ClientAnalytics.client_id == acme.id))
        )
        assert len(rows) == 1
        row = rows[0]
        assert (row.active_jobs_count, row.total_candidates_count, row.hired_count) == (1, 4, 2)
        assert (row.revenue_generated, row.avg_time_to_fill_days) == (Decimal("12000.00"), Decimal("12.00"))
        assert row.avg_candidate_quality_score == Decimal("4.00")
        await session.execute(Job.__table__.update().where(Job.reference == "D-3").values(status="open"))
    await run_job(rt, "nightly_analytics", midnight)
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ClientAnalytics)) == 1
        assert (await session.scalar(select(ClientAnalytics))).active_jobs_count == 2


async def test_the_dashboard_reads_one_snapshot_of_the_ninety_it_compares_with(rt) -> None:
    """Nightly snapshots pile up (one a day): a dashboard reads the one it shows, not the 90-day window,
    and as columns (`dashboard.Snapshot`), not an entity."""
    from sqlalchemy import event

    acme = await seed_account(rt)
    today = NOW.date()
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        session.add_all(
            ClientAnalytics(client_id=acme.id, date=today - timedelta(days=days), active_jobs_count=days)
            for days in range(1, 100)
        )
    loaded: list[ClientAnalytics] = []
    statements: list[str] = []
    listener = lambda target, _context: loaded.append(target)  # noqa: E731
    seen = lambda _conn, _cursor, statement, *_: statements.append(statement)  # noqa: E731
    event.listen(ClientAnalytics, "load", listener)
    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with rt.db.reading() as session:
            board = await dashboard.build(session, actor=manager, client_id=acme.id, today=today)
    finally:
        event.remove(ClientAnalytics, "load", listener)
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    assert board.since == today - timedelta(days=90) and board.changes[0].then == 90
    assert board.baseline.active_jobs_count == 90 and not loaded
    (snapshots,) = [s for s in statements if "client_analytics" in s]
    assert re.search(r"ORDER BY client_analytics\.date\s+LIMIT", snapshots), snapshots


async def test_snapshots_give_the_dashboard_its_history(rt) -> None:
    """Live figures against the oldest nightly snapshot of the last 90 days; older ones are ignored."""
    acme = await seed_account(rt)
    today = NOW.date()
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        board = await dashboard.build(session, actor=manager, client_id=acme.id, today=today)
        assert board.changes == [] and "Since" not in json.dumps(dashboard_views.dashboard_message(board))
        for days, jobs in ((120, 9), (60, 0), (30, 1)):
            session.add(
                ClientAnalytics(
                    client_id=acme.id,
                    date=today - timedelta(days=days),
                    active_jobs_count=jobs,
                    total_candidates_count=1,
                    hired_count=0,
                    revenue_generated=Decimal("0.00"),
                )
            )
        await session.flush()
        board = await dashboard.build(session, actor=manager, client_id=acme.id, today=today)
    assert board.since == today - timedelta(days=60)
    assert [(c.figure, c.then, c.now) for c in board.changes] == [
        ("active_jobs", 0, 1),
        ("total_candidates", 1, 4),
        ("placements", 0, 2),
        ("revenue", Decimal("0.00"), Decimal("12000.00")),
    ]
    private = json.dumps(dashboard_views.dashboard_message(board), ensure_ascii=False)
    assert "active jobs 0 → 1 (+1)" in private and "placements 0 → 2 (+2)" in private
    assert f"revenue {money(0)} → {money(12000)} (+{money(12000)})" in private
    shared = json.dumps(dashboard_views.dashboard_message(board, shared=True), ensure_ascii=False)
    assert "candidates 1 → 4 (+3)" in shared and "12,000" not in shared
    pdf = await render.build_dashboard_pdf(board, rt.storage)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "nightly snapshots" in text and f"+{money(12000)}" in text


async def test_report_command_line_writes_a_pdf(rt, database_url, tmp_path) -> None:
    acme = await seed_account(rt)
    out = tmp_path / "acme.pdf"
    env = {**os.environ, "DATABASE_URL": database_url, "CLIENTBOT_STORAGE_DIR": str(tmp_path)}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "report", acme.client_code, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = "\n".join(p.extract_text() for p in PdfReader(out).pages)
    assert "Acme Analytics" in text and "Offer acceptance rate" in text and "67%" in text


async def test_export_command_reports_progress_and_never_leaves_it_hanging(slack, fake, rt) -> None:
    acme = await seed_account(rt)
    await slack.command(f"export {acme.client_code}", user_id=MANAGER)
    await fake.wait_for_response(slack.last_response_url, contains="in your DMs")
    [pdf] = [u for u in fake.uploaded_files() if u.filename == f"{acme.client_code}-dashboard.pdf"]
    assert "Acme Analytics" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)

    fake.failing["files.getUploadURLExternal"] = "not_allowed_token_type"
    await slack.command(f"export {acme.client_code}", user_id=MANAGER)
    failed = await fake.wait_for_response(slack.last_response_url, contains="could not be built")
    assert "3/3" not in json.dumps(failed)
    assert len([u for u in fake.uploaded_files() if u.filename.endswith(".pdf")]) == 1


async def test_export_steps_go_out_in_order_and_the_pdf_chart_is_vector(slack, fake, rt) -> None:
    """Issue 14: the export's progress steps are posted while the work goes on, yet arrive in order with the
    outcome last; the PDF draws its chart as vector graphics (its labels are text; no raster image without
    a logo)."""
    acme = await seed_account(rt)
    await slack.command(f"export {acme.client_code}", user_id=MANAGER)
    url = slack.last_response_url
    await fake.wait_for_response(url, contains="in your DMs")
    steps = [json.dumps(body) for body in fake.responses[url.rsplit("/", 1)[-1]]]
    assert [next(n for n in ("1/3", "2/3", "3/3", "DMs") if n in step) for step in steps] == [
        "1/3",
        "2/3",
        "3/3",
        "DMs",
    ]
    [pdf] = [u for u in fake.uploaded_files() if u.filename == f"{acme.client_code}-dashboard.pdf"]
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Candidates by stage" in text and "Hires per month (last 12 months)" in text
    assert "Acme Analytics · pipeline and hires" in text
    images = [
        ref.get_object()
        for page in reader.pages
        for ref in page.get("/Resources", {}).get("/XObject", {}).values()
        if ref.get_object().get("/Subtype") == "/Image"
    ]
    assert images == []


async def test_render_workers_run_at_a_lower_priority_than_the_web_process() -> None:
    """Issue 14: an export only takes the CPU that other users' commands leave."""
    await asyncio.to_thread(render.start)
    niceness = await asyncio.wrap_future(render._executor().submit(os.nice, 0))
    assert niceness == min(19, os.nice(0) + render.NICE)
    if hasattr(os, "SCHED_IDLE"):  # Linux: only on a core nothing else wants
        assert await asyncio.wrap_future(render._executor().submit(os.sched_getscheduler, 0)) == os.SCHED_IDLE
