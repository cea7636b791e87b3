"""Issue 11 item 1: nothing an unsigned or malformed request to `/slack/events` says may cause a call to
Slack (or to the URL it names as `response_url`) or a database write. Slack's signing scheme:
https://api.slack.com/authentication/verifying-requests-from-slack (`X-Slack-Request-Timestamp` in Unix
seconds, `X-Slack-Signature: v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from bot.models import Base
from tests.conftest import SIGNING_SECRET

pytestmark = pytest.mark.asyncio
VERIFIER = SignatureVerifier(SIGNING_SECRET)


def command_form(fake: Any, user_id: str = "UATTACKER", channel_id: str = "CANYCHANNEL") -> str:
    """A `/client list` slash command whose response_url and user_id are the attacker's choice."""
    return urlencode(
        {
            "team_id": "T0001",
            "channel_id": channel_id,
            "user_id": user_id,
            "user_name": "attacker",
            "command": "/client",
            "text": "list",
            "api_app_id": "A0CLIENTBOT",
            "response_url": fake.new_response_url(),
            "trigger_id": "1.2.abc",
        }
    )


async def row_counts(rt: Any) -> dict[str, int]:
    async with rt.db.session() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


async def post(app_url: str, body: bytes, headers: list[tuple[str, str]]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{app_url}/slack/events", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


async def assert_nothing_happened(fake: Any, rt: Any, before: dict[str, int]) -> None:
    await asyncio.sleep(0.3)  # anything the app does after answering would show by now
    assert fake.calls == [], [c.method for c in fake.calls]
    assert fake.responses == {}, "the app posted to the request's response_url"
    assert await row_counts(rt) == before


def signed(body: str, timestamp: str | None = None) -> tuple[str, str]:
    ts = timestamp or str(int(time.time()))
    return ts, VERIFIER.generate_signature(timestamp=ts, body=body)


FORM = "application/x-www-form-urlencoded"


def _header_attacks(body: str) -> dict[str, list[tuple[str, str]]]:
    ts, signature = signed(body)
    return {
        # Fails on main: int("abc") raised ValueError inside Bolt's verifier, the global error handler got the
        # unverified body and posted to its response_url (500 + an outbound call).
        "non-numeric timestamp": [("X-Slack-Request-Timestamp", "abc"), ("X-Slack-Signature", signature)],
        # Fails on main the same way (int() refuses strings over 4300 digits).
        "huge timestamp": [("X-Slack-Request-Timestamp", "9" * 5000), ("X-Slack-Signature", signature)],
        "float timestamp": [("X-Slack-Request-Timestamp", f"{ts}.5"), ("X-Slack-Signature", signature)],
        "negative timestamp": [("X-Slack-Request-Timestamp", f"-{ts}"), ("X-Slack-Signature", signature)],
        "missing timestamp": [("X-Slack-Signature", signature)],
        "missing signature": [("X-Slack-Request-Timestamp", ts)],
        "no headers": [],
        "unicode signature": [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", "v0=é" + "0" * 63)],
        "wrong signature": [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", "v0=" + "0" * 64)],
        "stale signature": [
            ("X-Slack-Request-Timestamp", signed(body, str(int(time.time()) - 301))[0]),
            ("X-Slack-Signature", signed(body, str(int(time.time()) - 301))[1]),
        ],
        # A second, malformed copy of a header next to a valid pair: Bolt reads only the first one.
        "duplicated timestamp": [
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Request-Timestamp", "abc"),
            ("X-Slack-Signature", signature),
        ],
        "duplicated signature": [
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", signature),
            ("X-Slack-Signature", "v0=" + "0" * 64),
        ],
    }


@pytest.mark.parametrize("attack", list(_header_attacks("x")))
async def test_malformed_signature_headers_get_401_and_no_outbound_call(
    attack: str, app_url: str, fake: Any, rt: Any
) -> None:
    body = command_form(fake)
    before = await row_counts(rt)
    headers = [("Content-Type", FORM), *_header_attacks(body)[attack]]
    assert await post(app_url, body.encode(), headers) == 401
    await assert_nothing_happened(fake, rt, before)


async def test_unicode_digit_timestamp_is_refused(app_url: str, fake: Any, rt: Any) -> None:
    """Arabic-Indic digits pass int(); Slack never sends them, so even a correctly signed one is refused."""
    body = command_form(fake)
    now = str(int(time.time())).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    ts, signature = signed(body, now)
    before = await row_counts(rt)
    headers = [("Content-Type", FORM), ("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", signature)]
    assert await post(app_url, body.encode(), headers) == 401
    await assert_nothing_happened(fake, rt, before)


def _body_attacks(fake: Any) -> dict[str, tuple[str, bytes]]:
    return {
        # Fails on main: Bolt parses the body before verifying it and the JSON error escaped as a 500.
        "invalid payload JSON": (FORM, urlencode({"payload": '{"type": "block_actions",'}).encode()),
        "payload JSON not an object": (FORM, urlencode({"payload": "[1, 2]"}).encode()),
        "invalid event JSON": ("application/json", b'{"type": "event_callback", '),
        "event JSON not an object": ("application/json", b'"event_callback"'),
        # Fails on main: a slash command sent as text/plain was dispatched like a form.
        "wrong content type": ("text/plain", command_form(fake).encode()),
        "no content type": ("", command_form(fake).encode()),
    }


@pytest.mark.parametrize(
    "attack",
    [
        "invalid payload JSON",
        "payload JSON not an object",
        "invalid event JSON",
        "event JSON not an object",
        "wrong content type",
        "no content type",
    ],
)
async def test_signed_but_malformed_bodies_get_400_and_do_nothing(
    attack: str, app_url: str, fake: Any, rt: Any
) -> None:
    content_type, body = _body_attacks(fake)[attack]
    ts, signature = signed(body.decode())
    before = await row_counts(rt)
    headers = [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", signature)]
    if content_type:
        headers.append(("Content-Type", content_type))
    assert await post(app_url, body, headers) == 400
    await assert_nothing_happened(fake, rt, before)


async def test_body_that_is_not_utf8_is_refused(app_url: str, fake: Any, rt: Any) -> None:
    body = command_form(fake).encode() + b"&text=%FF\xff\xfe"
    ts = str(int(time.time()))
    before = await row_counts(rt)
    headers = [
        ("Content-Type", FORM),
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", "v0=" + "a" * 64),
    ]
    assert await post(app_url, body, headers) in (400, 401)
    await assert_nothing_happened(fake, rt, before)


async def test_a_properly_signed_command_still_works(slack: Any, fake: Any) -> None:
    reply = await slack.command("help", user_id="UADMIN")
    assert reply.status == 200
    assert json.dumps(reply.json or await fake.wait_for_response(slack.last_response_url))
