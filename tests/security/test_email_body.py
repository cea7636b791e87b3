"""Issue 11 items 2 and 3: one email must neither freeze the app (hostile HTML read on the event loop)
nor be stored truncated (the body read as far as happened to be buffered)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import urllib.request

import aiohttp
import pytest

from tests.security.emails import configure, email, post, stored, techcorp

MB = 1024 * 1024
DEFAULT_LIMIT = 35 * MB  # CLIENTBOT_EMAIL_MAX_MB's default


@pytest.fixture
def settings(settings):
    return configure(settings)


def _pdf(size: int) -> bytes:
    return (b"%PDF-1.7\n" + os.urandom(size))[:size]


async def _assert_stored_byte_for_byte(rt, content: bytes) -> None:
    [record] = await stored(rt)
    [meta] = record.attachments
    kept = await rt.storage.get(meta["storage_key"])
    assert meta["size"] == len(content) == len(kept)
    assert meta["sha256"] == hashlib.sha256(content).hexdigest() == hashlib.sha256(kept).hexdigest()
    assert kept == content


@pytest.mark.parametrize("size", [3 * MB, 25 * MB], ids=["3MB-pdf", "25MB-pdf"])
async def test_an_attachment_is_stored_byte_for_byte(app_url, rt, size: int) -> None:
    await techcorp(rt)
    content = _pdf(size)
    raw = email(
        subject=f"Contract {size}", attachments=[("contract.pdf", content, "application/pdf")]
    ).as_bytes()
    assert len(raw) < DEFAULT_LIMIT
    async with aiohttp.ClientSession() as http:
        status, body = await post(http, app_url, raw)
    assert status == 201 and body["attachments"] == 1, body
    await _assert_stored_byte_for_byte(rt, content)


async def test_a_chunked_message_over_the_limit_is_refused_whole(app_url, rt) -> None:
    """No Content-Length to check up front: the app must count what it reads, not store a prefix."""
    await techcorp(rt)
    raw = email(
        subject="Too big", attachments=[("big.pdf", _pdf(DEFAULT_LIMIT * 3 // 4 + MB), "application/pdf")]
    ).as_bytes()
    assert len(raw) > DEFAULT_LIMIT

    async def chunks():
        for start in range(0, len(raw), 256 * 1024):
            yield raw[start : start + 256 * 1024]

    async with aiohttp.ClientSession() as http:
        try:
            status, body = await post(http, app_url, chunks())
        except aiohttp.ClientError:  # the app may close the connection once it has answered 413
            status, body = 413, {}
    assert status == 413, body
    assert await stored(rt) == []


def _poll_healthz(url: str, stop: threading.Event, latencies: list[float], errors: list[str]) -> None:
    """From another thread (its own connection, not the app's event loop), as a load balancer would."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                response.read()
        except OSError as error:  # recorded as a failed probe: never a silent gap
            errors.append(repr(error))
        latencies.append(time.perf_counter() - started)
        stop.wait(0.02)


@pytest.mark.parametrize(
    "html",
    [
        pytest.param("<" * 120_000, id="120k-lt"),
        pytest.param("<a " * 100_000, id="100k-unclosed-tags"),
    ],
)
async def test_hostile_html_does_not_freeze_the_app(app_url, rt, html: str) -> None:
    await techcorp(rt)
    raw = email(subject="Hostile HTML", text=None, html=html).as_bytes()
    stop, latencies, errors = threading.Event(), [], []
    poller = threading.Thread(target=_poll_healthz, args=(f"{app_url}/healthz", stop, latencies, errors))
    poller.start()
    try:
        status, body = await post_once(app_url, raw)
    finally:
        stop.set()
        await asyncio.to_thread(poller.join)
    assert status == 201, body
    assert latencies and not errors, errors
    # The fix answers in milliseconds; main's regex held the event loop for seconds. The margin is for a
    # shared CI machine (bench/email_ingest.py measures it properly).
    assert max(latencies) < 0.5, f"/healthz took up to {max(latencies):.2f} s during the ingest"


async def test_html_body_becomes_its_visible_text(app_url, rt) -> None:
    await techcorp(rt)
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<p>Dear Sam,</p><p>Salary &amp; start date <b>agreed</b>.</p>"
        "<script>document.location='https://evil.example'</script><div>John</div></body></html>"
    )
    status, body = await post_once(app_url, email(subject="Agreed", text=None, html=html).as_bytes())
    assert status == 201, body
    [record] = await stored(rt)
    assert record.notes == "Dear Sam,\nSalary & start date agreed.\nJohn"


async def test_reading_a_message_is_bounded_in_time(app_url, rt) -> None:
    await techcorp(rt)
    rt.settings = rt.settings.model_copy(update={"email_parse_timeout": 0.001})
    raw = email(subject="Slow", attachments=[("a.pdf", _pdf(8 * MB), "application/pdf")]).as_bytes()
    status, body = await post_once(app_url, raw)
    assert status == 422 and "could not be read within" in str(body), body
    assert await stored(rt) == []
    rt.settings = rt.settings.model_copy(update={"email_parse_timeout": 30.0})
    status, body = await post_once(app_url, raw)  # a fresh worker takes the next message
    assert status == 201, body


async def post_once(app_url: str, raw: bytes) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        return await post(http, app_url, raw)
