"""Hostile files in the log form: the bot token goes to Slack's file host only, and what comes back must be
the file (issue 10 item 4, issue 11 item 5). Each test failed before the fix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.config import Settings
from bot.models import Client, ClientCommunication
from tests import factories
from tests.conftest import BOT_TOKEN, RECRUITER

LOG_FORM = {"type": "email", "subject": "Offer letter", "when": 1772352000}


@pytest.fixture
async def foreign_host() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """Another origin on loopback that records every request's headers (a host that is not Slack's)."""
    seen: list[dict[str, str]] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"%PDF-1.4 looks fine", content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def _acme(rt) -> Client:
    return await factories.acme_with_team(rt.db)


async def _stored(rt) -> list[ClientCommunication]:
    return await factories.stored_communications(rt.db)


async def _log_with(slack, fake, rt, file_info: dict) -> str:
    """Log a communication with `file_info` attached; the form that comes back, as text."""
    acme = await _acme(rt)
    await slack.command(f"log {acme.client_code}", user_id=RECRUITER)
    form = await fake.filled(await fake.wait_for("views.open"))
    values = slack.form_values(form, LOG_FORM | {"attachments": [file_info]})
    await slack.view_submission(form, values, user_id=RECRUITER)
    back = await fake.wait_for("views.update", lambda c: "Nothing was saved" in json.dumps(c.params))
    assert back.params["view"]["callback_id"] == "comm_log_form"
    return json.dumps(back.params["view"])


async def test_url_private_on_a_foreign_host_never_gets_the_token(slack, fake, rt, foreign_host) -> None:
    origin, seen = foreign_host
    info = fake.add_file(
        "offer-letter.pdf", b"%PDF-1.4", "application/pdf", "pdf", url_private=f"{origin}/files-pri/F1/x.pdf"
    )
    shown = await _log_with(slack, fake, rt, info)
    assert "not stored on Slack's file host" in shown
    assert not any(BOT_TOKEN in json.dumps(headers) for headers in seen)
    assert await _stored(rt) == []


async def test_slacks_sign_in_page_is_not_stored_as_the_attachment(slack, fake, rt) -> None:
    """The token can't see the file: Slack answers 200 with its HTML sign-in page (text/html)."""
    info = fake.add_file("offer-letter.pdf", b"%PDF-1.4 offer", "application/pdf", "pdf", accessible=False)
    shown = await _log_with(slack, fake, rt, info)
    assert "web page (its sign-in page) instead of offer-letter.pdf" in shown
    assert await _stored(rt) == []


@pytest.mark.parametrize(
    ("content", "mimetype", "expect"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "application/pdf", "sign-in page) instead of"),
        (b"\n  <html><head><title>x</title></head></html>", "application/pdf", "sign-in page) instead of"),
        (b"Dear candidate, this is plain text.", "application/pdf", "is not a PDF, as it claims to be"),
        (b"just text pretending", "image/png", "is not an image, as it claims to be"),
    ],
)
async def test_content_that_is_not_what_the_file_claims_is_refused(
    slack, fake, rt, content, mimetype, expect
) -> None:
    info = fake.add_file("offer-letter.pdf", content, mimetype, "pdf")
    shown = await _log_with(slack, fake, rt, info)
    assert expect in shown
    assert await _stored(rt) == []


def test_only_slacks_file_host_is_trusted_by_default() -> None:
    assert Settings(_env_file=None).slack_file_hosts == frozenset({"https://files.slack.com"})
    configured = Settings(
        _env_file=None, CLIENTBOT_SLACK_FILE_HOSTS="https://files.slack.com, http://127.0.0.1:9/"
    )
    assert configured.slack_file_hosts == frozenset({"https://files.slack.com", "http://127.0.0.1:9"})
