"""The ceiling for `bench.load`: a bare Bolt AsyncApp on aiohttp, no database. It verifies the signed request
like clientbot, acks every `/client` command and every button, and answers through the response_url with a
message of the size the load generator asks for (`X-Bench-Reply-Bytes`: the size of clientbot's replies).

Run by bench.load as a separate process: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL, PORT."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

SECTION_CHARS = 2900  # a section's text is at most 3,000 characters (Block Kit)


def message_of_size(size: int) -> dict[str, Any]:
    """An ephemeral message whose JSON is about `size` bytes: sections of filler text."""
    blocks, left = [], max(size - 60, 10)
    while left > 0 and len(blocks) < 50:
        chunk = min(left, SECTION_CHARS)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "x" * chunk}})
        left -= chunk + 50
    return {"text": "bench reply", "blocks": blocks}


def requested_size(request: AsyncBoltRequest) -> int:
    values = request.headers.get("x-bench-reply-bytes") or ["3000"]
    try:
        return int(values[0])
    except ValueError:
        return 3000


def create_app() -> AsyncApp:
    token = os.environ["SLACK_BOT_TOKEN"]
    app = AsyncApp(
        token=token,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=AsyncWebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
    )

    @app.command("/client")
    async def command(ack: Any, respond: Any, request: AsyncBoltRequest) -> None:
        await ack()
        await respond(response_type="ephemeral", **message_of_size(requested_size(request)))

    @app.action(re.compile(".*"))
    async def button(ack: Any, respond: Any, request: AsyncBoltRequest) -> None:
        await ack()
        await respond(
            response_type="ephemeral", replace_original=False, **message_of_size(requested_size(request))
        )

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    port = int(os.environ.get("PORT", "3000"))
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 1
    if workers > 1:  # as many processes as clientbot's `serve --workers N`, under the same process manager
        from bot.workers import Gunicorn

        async def factory() -> Any:
            return create_app().web_app(path="/slack/events")

        options = {
            "bind": f"127.0.0.1:{port}",
            "workers": workers,
            "worker_class": "aiohttp.GunicornWebWorker",
        }
        Gunicorn(factory, options).run()
    else:
        create_app().start(port=port, path="/slack/events")
