"""Issue 11 item 10: a spoofed email must not become a permanent record. The receiving host's
Authentication-Results (RFC 8601) decide; a sender's own (forged) results count for nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MANAGER
from tests.security.emails import AUTHSERV, configure, email, failed, passed, send, stored, techcorp

SPOOF = "CEO <ceo@techcorp.example.com>"


@pytest.fixture
def settings(settings):
    return configure(settings)


async def test_spoofed_ceo_with_failing_spf_dkim_dmarc_is_refused(app_url, rt) -> None:
    await techcorp(rt)
    status, body = await send(app_url, email(sender=SPOOF, subject="Wire the fee today", auth=[failed()]))
    assert status == 422, body
    assert body["error"]["code"] == "unauthenticated"
    assert "dmarc=fail" in body["error"]["message"] and "ceo@techcorp.example.com" in body["error"]["message"]
    assert await stored(rt) == []


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param([], id="no-authentication-results"),
        # the sender's own header, naming another host: anyone can write that
        pytest.param([passed(authserv="mx.attacker.example")], id="results-of-another-host"),
        # the receiving host's verdict on top, a forged "pass" under its name further down
        pytest.param([failed(), passed()], id="forged-pass-below-the-real-fail"),
        # DKIM passed, but for the attacker's own domain: not the From domain
        pytest.param([f"{AUTHSERV}; dkim=pass header.d=attacker.example"], id="dkim-of-another-domain"),
    ],
)
async def test_unauthenticated_mail_is_refused_by_default(app_url, rt, auth) -> None:
    await techcorp(rt)
    status, body = await send(app_url, email(sender=SPOOF, subject="Urgent", auth=auth))
    assert status == 422 and body["error"]["code"] == "unauthenticated", body
    assert await stored(rt) == []


async def test_flag_policy_logs_spoofed_mail_marked_unverified(app_url, rt, slack, fake) -> None:
    rt.settings = rt.settings.model_copy(update={"email_auth": "flag"})
    client = await techcorp(rt)
    status, body = await send(app_url, email(sender=SPOOF, subject="Wire the fee today", auth=[failed()]))
    assert status == 201 and body["verified"] is False, body
    [record] = await stored(rt)
    assert record.source == "email-unverified" and record.subject == "Wire the fee today"
    await slack.command(f"history {client.client_code}", user_id=MANAGER)
    history = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Wire the fee today" in history and "unverified sender" in history


async def test_authenticated_mail_is_logged_as_verified(app_url, rt) -> None:
    await techcorp(rt)
    status, body = await send(app_url, email(auth=[passed()]))
    assert status == 201 and body["verified"] is True, body
    [record] = await stored(rt)
    assert record.source == "email"
