"""Communication logging. The "Log to client" message shortcut is declared in the manifest; until the
communication log lands it tells the user so instead of failing silently."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.common import notify_user
from views.common import info_message

NOT_YET = "Logging a message to a client is not available yet: the communication log is still being built."


async def on_log_to_client_shortcut(ack: Any, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    await notify_user(client, shortcut["user"]["id"], info_message(NOT_YET), shortcut.get("response_url"))


def register(app: AsyncApp) -> None:
    app.shortcut("log_to_client")(on_log_to_client_shortcut)
