"""Posts to a Slack `response_url` (https://api.slack.com/interactivity/handling#message_responses) over the
app's shared keep-alive session, the body encoded by orjson: slack_sdk's webhook client encodes with the
stdlib's json, 0.2 ms of a 13 KB history page and ~5 % of a `/client history`'s CPU under load (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson
from slack_sdk.webhook import WebhookResponse

TIMEOUT = aiohttp.ClientTimeout(total=30)  # slack_sdk's webhook client's default
HEADERS = {"Content-Type": "application/json;charset=utf-8"}


def encode(message: dict[str, Any]) -> bytes:
    """The JSON body: orjson, or the stdlib for what orjson refuses (a lone surrogate a user's text may
    carry, which JSON can only escape)."""
    body = {key: value for key, value in message.items() if value is not None}
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body).encode()


async def post_response(
    session: aiohttp.ClientSession | None, url: str, message: dict[str, Any]
) -> WebhookResponse:
    """POST `message` to `url` (over a session of its own when there is no shared one). A pooled
    connection the other side closed while it sat idle is tried once more on a new one, as slack_sdk's
    AsyncConnectionErrorRetryHandler (the webhook client's default) does; an answer, whatever its status,
    is returned as it came."""
    if session is None or session.closed:
        async with aiohttp.ClientSession() as own:
            return await post_response(own, url, message)
    body = encode(message)
    for retry in (True, False):
        try:
            async with session.post(url, data=body, headers=HEADERS, timeout=TIMEOUT) as response:
                return WebhookResponse(
                    url=url,
                    status_code=response.status,
                    body=await response.text(),
                    headers=response.headers,  # type: ignore[arg-type]
                )
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if not retry:
                raise
    raise AssertionError("unreachable")
