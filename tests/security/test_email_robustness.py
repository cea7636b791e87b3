"""Issue 11 item 14 (email parts): an absurd Date, a forwarded message and one odd address each used to
fail or lose part of a message."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from bot import clock
from tests.security.emails import configure, email, send, stored, techcorp


@pytest.fixture
def settings(settings):
    return configure(settings)


async def test_a_date_beyond_utc_falls_back_to_the_receipt_time(app_url, rt) -> None:
    await techcorp(rt)
    message = email(subject="From the far future")
    message.replace_header("Date", "Fri, 31 Dec 9999 23:59:59 -2359")
    received = clock.now()
    status, body = await send(app_url, message)
    assert status == 201, body
    [record] = await stored(rt)
    assert abs(record.communication_date - received) < timedelta(minutes=1)


async def test_a_forwarded_message_is_kept_as_an_eml_attachment(app_url, rt) -> None:
    await techcorp(rt)
    forwarded = EmailMessage()
    forwarded["From"], forwarded["To"] = "Candidate <ann@gmail.example>", "john@techcorp.example.com"
    forwarded["Subject"], forwarded["Date"] = "My CV", "Sun, 01 Mar 2026 09:00:00 +0000"
    forwarded.set_content("Hello John, my CV is below.\nAnn")
    message = email(subject="Fwd: My CV", text="See Ann's mail below.")
    message.add_attachment(forwarded)  # a message/rfc822 part
    assert [p.get_content_type() for p in message.iter_attachments()] == ["message/rfc822"]
    status, body = await send(app_url, message)
    assert status == 201 and body["attachments"] == 1, body
    [record] = await stored(rt)
    [meta] = record.attachments
    assert meta["mime"] == "message/rfc822" and meta["name"].endswith(".eml")
    content = await rt.storage.get(meta["storage_key"])
    assert meta["size"] == len(content) > 0 and meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert content == forwarded.as_bytes(policy=policy.default)
    again = BytesParser(policy=policy.default).parsebytes(content)
    assert again["subject"] == "My CV" and "my CV is below" in again.get_body().get_content()


async def test_one_unparsable_cc_does_not_reject_the_message(app_url, rt) -> None:
    await techcorp(rt)
    cc = "undisclosed@localhost, Jane <jane@agency.example.com>"
    message = email(subject="Shortlist", headers={"Cc": cc})
    status, body = await send(app_url, message)
    assert status == 201, body
    [record] = await stored(rt)
    emails = [p["email"] for p in record.participants]
    assert "john@techcorp.example.com" in emails and "jane@agency.example.com" in emails
    assert "undisclosed@localhost" not in emails
