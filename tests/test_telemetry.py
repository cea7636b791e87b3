"""`/metrics` after a scripted session (a command, a modal with a file, a button, an event, a rate limit,
a digest Slack refuses, a job that fails): every metric the operators graph has a non-zero sample; and
the JSON-lines log of a request carries its id, user, command and duration."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.db import Database
from bot.models import AppState, Role
from bot.runtime import Runtime
from bot.telemetry import JsonFormatter
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER
from tests.test_communications_slack import FORM, PDF
from tests.test_scheduler import _run_schedulers

TOKEN = "metrics-token-for-tests"
EXPECTED = [
    "clientbot_requests_total",
    "clientbot_request_seconds_count",
    "clientbot_ack_seconds_count",
    "clientbot_slack_api_calls_total",
    "clientbot_slack_rate_limit_waits_total",
    "clientbot_slack_rate_limit_wait_seconds_total",
    "clientbot_db_pool_in_use",
    "clientbot_scheduler_runs_total",
    "clientbot_scheduler_failures_total",
    "clientbot_scheduler_lag_seconds",
    "clientbot_deliveries_pending",
    "clientbot_stored_bytes_total",
    "clientbot_build_info",
]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"metrics_token": TOKEN, "digest_channel": "CDIGEST"})


async def scrape(app_url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{app_url}/metrics", headers=headers) as response:
        return response.status, await response.text()


async def test_every_metric_has_a_sample_after_a_session(slack, fake, rt, app_url, settings) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("clientbot.request").addHandler(handler)
    logging.getLogger("clientbot.request").setLevel(logging.INFO)
    try:
        async with rt.db.session() as session:
            manager = await factories.user(session, MANAGER, Role.MANAGER)
            await factories.user(session, ADMIN, Role.ADMIN)
            acme = await factories.client(session, manager, "Acme")
            installed = (datetime.now(UTC) - timedelta(days=30)).isoformat()
            await session.merge(AppState(key="installed_at", value=installed))

        fake.rate_limited["views.open"] = 1  # the modal opens after one Retry-After wait
        await slack.command(f"log {acme.client_code}", user_id=RECRUITER)
        opened = await fake.wait_for("views.open", lambda c: "id" in c.params["view"], timeout=10)
        view = await fake.filled(opened)
        pdf = fake.add_file("proposal.pdf", PDF, "application/pdf", "pdf")
        values = slack.form_values(view, FORM | {"type": "meeting", "attachments": [pdf]})
        await slack.view_submission(view, values, user_id=RECRUITER)
        await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
        await slack.command(f"history {acme.client_code}", user_id=MANAGER)
        timeline = await fake.wait_for_response(slack.last_response_url)
        menu = next(
            b["accessory"] for b in timeline["blocks"] if b.get("accessory", {}).get("type") == "overflow"
        )
        download = next(o for o in menu["options"] if o["value"].startswith("dl:"))
        await slack.block_action(
            "comm_entry_menu", user_id=MANAGER, selected_option=download, message=timeline
        )
        await fake.wait_for("files.completeUploadExternal")
        await slack.event({"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"})
        await fake.wait_for("views.publish")

        fake.failing["chat.postMessage"] = "internal_error"  # the digest is not delivered: pending
        await _run_schedulers([rt], only="weekly_digest", fire="weekly_digest")
        down = Runtime(
            settings=settings, db=Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"), storage=rt.storage
        )
        await _run_schedulers([down], only="nightly_analytics", fire="nightly_analytics")
        await down.db.dispose()

        status, text = await scrape(app_url)
    finally:
        logging.getLogger("clientbot.request").removeHandler(handler)
    assert status == 200
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    missing = [name for name in EXPECTED if not any(s.name == name and s.value > 0 for s in samples)]
    assert missing == []

    def value(metric: str, **labels: str) -> float:
        return sum(
            s.value
            for s in samples
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert value("clientbot_requests_total", kind="command", name="client log", outcome="ok") >= 1
    assert value("clientbot_requests_total", kind="view", name="comm_log_form") >= 1
    assert value("clientbot_requests_total", kind="action", name="comm_entry_menu") >= 1
    assert value("clientbot_requests_total", kind="event", name="app_home_opened") >= 1
    assert value("clientbot_slack_api_calls_total", method="chat.postmessage", error="internal_error") >= 1
    assert value("clientbot_slack_rate_limit_waits_total", method="views.open") >= 1
    assert value("clientbot_scheduler_failures_total", job="nightly_analytics") >= 1
    assert value("clientbot_stored_bytes_total", kind="attachments") >= len(PDF)

    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    command = next(entry for entry in logged if entry.get("command") == "client log")
    assert command["user"] == RECRUITER and command["request_id"] and command["duration_ms"] > 0
    assert command["level"] == "info" and command["message"] == "command client log: ok"


def test_the_access_log_leaves_acked_slack_requests_to_the_request_log(caplog) -> None:
    """`clientbot serve` logs a Slack request answered 200 once (clientbot.request); what Slack refused
    to sign, the API and the probes keep their access-log line."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web_log import AccessLogger

    from bot.telemetry import AccessLog

    access = AccessLog(logging.getLogger("aiohttp.access"), AccessLogger.LOG_FORMAT)
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        for method, path, status in [
            ("POST", "/slack/events", 200),
            ("POST", "/slack/events", 401),
            ("GET", "/api/clients", 200),
            ("GET", "/healthz", 200),
        ]:
            access.log(make_mocked_request(method, path), web.Response(status=status), 0.01)
    logged = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(logged) == 3
    assert '"POST /slack/events' in logged[0] and " 401 " in logged[0]
    assert "/api/clients" in logged[1] and "/healthz" in logged[2]
