"""Issue 11 item 13: a `$` in a client's name reached matplotlib's mathtext parser (`Acme $\\frac{1}{$ Ltd`
raised, so that client's charts, PDFs and reports always failed). Chart text goes through one mathtext
escaping helper, PDF paragraphs through one reportlab markup helper."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
from pathlib import Path

from PIL import Image
from pypdf import PdfReader

from bot.models import Role
from bot.services import feedback
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import MANAGER

NAME = r"Acme $\frac{1}{$ Ltd <b>&amp; $x$"
RATINGS = {
    "responsiveness_rating": "4",
    "communication_rating": "5",
    "requirements_clarity_rating": "3",
    "decision_speed_rating": "2",
    "overall_satisfaction": "4",
}


async def _client_with_feedback(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, NAME, account_manager_id=MANAGER)
        for period, note in (("2026-Q2", "Fine $5 fee"), ("2026-Q3", r"Cost $\sqrt{2}$ <i>x</i> & more")):
            await feedback.submit(
                session,
                actor=manager,
                client_id=acme.id,
                data=feedback.parse_feedback(RATINGS | {"feedback_period": period, "written_feedback": note}),
            )
    return acme


def _pdf_text(data: bytes | Path) -> str:
    reader = PdfReader(io.BytesIO(data) if isinstance(data, bytes) else data)
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


async def test_report_command_line_with_a_dollar_in_the_client_name(rt, database_url, tmp_path) -> None:
    acme = await _client_with_feedback(rt)
    env = cli_env({**os.environ, "DATABASE_URL": database_url, "CLIENTBOT_STORAGE_DIR": str(tmp_path)})
    outputs = {"dashboard": (), "performance": ("--period", "2026-Q3", "--vs", "2026-Q2")}
    for kind, extra in outputs.items():
        out = tmp_path / f"{kind}.pdf"
        result = await asyncio.to_thread(
            subprocess.run,
            cli_argv("report", acme.client_code, *extra, "--out", str(out)),
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, f"{kind}: {result.stderr[-2000:]}"
        text = _pdf_text(out)
        assert f"{NAME} ({acme.client_code})" in text, (kind, text[:300])
    assert r"Cost $\sqrt{2}$ <i>x</i> & more" in _pdf_text(tmp_path / "performance.pdf")


async def test_slack_chart_and_report_with_a_dollar_in_the_client_name(slack, fake, rt) -> None:
    acme = await _client_with_feedback(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)
    board = await fake.wait_for_response(slack.last_response_url)
    chart = next(  # the card's *More* menu
        o
        for b in board["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        for o in e.get("options", [])
        if o["value"].startswith("chart:")
    )
    await slack.block_action("dashboard_more", selected_option=chart, user_id=MANAGER)
    await fake.wait_for("files.completeUploadExternal")
    [chart] = fake.uploaded_files()
    assert Image.open(io.BytesIO(chart.content)).format == "PNG"

    await slack.command(f"report {acme.client_code} 2026-Q3 vs 2026-Q2", user_id=MANAGER)
    report = await fake.wait_for_response(slack.last_response_url, contains="Performance")
    trend = await fake.wait_for(
        "files.completeUploadExternal", lambda c: len(fake.calls_to("files.completeUploadExternal")) >= 2
    )
    assert trend and "Performance" in json.dumps(report)
    pngs = [u for u in fake.uploaded_files() if u.filename.endswith(".png")]
    assert len(pngs) == 2 and all(Image.open(io.BytesIO(u.content)).format == "PNG" for u in pngs)
