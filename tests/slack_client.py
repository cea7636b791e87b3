"""Signed requests into the app, in Slack's own wire format: form-encoded slash commands, `payload=`
interactions and JSON events, each with `X-Slack-Signature` and `X-Slack-Request-Timestamp`."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.blockkit import validate_message, validate_view
from tests.slack_fake import FakeSlack

APP_ID = "A0CLIENTBOT"


@dataclass
class Reply:
    status: int
    body: str
    json: dict[str, Any] | None
    headers: dict[str, str]


def _trigger() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"


def text_value(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    option = {"value": value, "text": {"type": "plain_text", "text": text or value or ""}} if value else None
    return {"type": "static_select", "selected_option": option}


def checkbox_value(values: list[str]) -> dict[str, Any]:
    return {
        "type": "checkboxes",
        "selected_options": [{"value": v, "text": {"type": "plain_text", "text": v}} for v in values],
    }


def users_value(ids: list[str]) -> dict[str, Any]:
    return {"type": "multi_users_select", "selected_users": ids}


def date_value(day: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": day}


def datetime_value(ts: int | None) -> dict[str, Any]:
    return {"type": "datetimepicker", "selected_date_time": ts}


def file_value(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "file_input", "files": files}


def radio_value(value: str | None) -> dict[str, Any]:
    return {"type": "radio_buttons", "selected_option": {"value": value} if value else None}


class SlackClient:
    def __init__(self, app_url: str, signing_secret: str, fake: FakeSlack, team_id: str = "T0001") -> None:
        self.url = f"{app_url}/slack/events"
        self.verifier = SignatureVerifier(signing_secret)
        self.fake, self.team_id = fake, team_id
        self.last_response_url: str | None = None
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http:
            await self._http.close()

    async def _post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
    ) -> Reply:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._last = (body, content_type)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or self.verifier.generate_signature(timestamp=ts, body=body),
        }
        self._last_signed = (ts, headers["X-Slack-Signature"])
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        async with self._http.post(self.url, data=body.encode(), headers=headers) as response:
            text = await response.text()
            try:
                data = json.loads(text) if text else None
            except ValueError:
                data = None
        if isinstance(data, dict):
            if isinstance(data.get("view"), dict):
                validate_view(data["view"])
            if data.get("blocks"):
                validate_message(data)
        return Reply(response.status, text, data if isinstance(data, dict) else None, dict(response.headers))

    async def retry_last(self, retry_num: int = 1) -> Reply:
        """Deliver the last request again, byte for byte, the way Slack retries (`X-Slack-Retry-Num`)."""
        body, content_type = self._last
        return await self._post(body, content_type, retry_num=retry_num)

    async def replay_last(self) -> Reply:
        """Send the last request again byte for byte, with its own timestamp and signature and without
        `X-Slack-Retry-Num`: what someone who captured it can do while the signature is fresh (5 minutes)."""
        body, content_type = self._last
        timestamp, signature = self._last_signed
        return await self._post(body, content_type, timestamp=int(timestamp), signature=signature)

    async def _interaction(self, payload: dict[str, Any], **signing: Any) -> Reply:
        body = urlencode({"payload": json.dumps(payload)})
        return await self._post(body, "application/x-www-form-urlencoded", **signing)

    def _user(self, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id}

    def _base(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": "test"},
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "is_enterprise_install": False,
        }

    async def command(
        self,
        text: str,
        user_id: str = "UADMIN",
        command: str = "/client",
        channel_id: str = "C0001",
        user_name: str | None = None,
        **signing: Any,
    ) -> Reply:
        self.last_response_url = self.fake.new_response_url()
        form = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.last_response_url,
            "trigger_id": _trigger(),
        }
        return await self._post(urlencode(form), "application/x-www-form-urlencoded", **signing)

    async def block_action(
        self,
        action_id: str,
        value: str | None = None,
        user_id: str = "UADMIN",
        view: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        response_url: str | None = None,
        block_id: str | None = None,
        selected_option: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        message: dict[str, Any] | None = None,
        channel_id: str = "C0001",
        **signing: Any,
    ) -> Reply:
        action: dict[str, Any] = {
            "type": "button" if selected_option is None else "static_select",
            "action_id": action_id,
            "block_id": block_id or "b",
            "action_ts": str(time.time()),
        }
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = selected_option
        payload = self._base("block_actions", user_id) | {
            "trigger_id": trigger_id or _trigger(),
            "actions": [action],
        }
        if view is not None:
            payload["view"] = self._view_payload(view, (view.get("state") or {}).get("values", {}))
            payload["container"] = container or {"type": "view", "view_id": payload["view"]["id"]}
        else:
            ts = "1700000000.000001"
            payload["container"] = container or {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": True,
            }
            payload["channel"] = {"id": channel_id, "name": "general"}
            payload["message"] = (message or {}) | {"ts": ts}
            payload["response_url"] = response_url or self.fake.new_response_url()
        return await self._interaction(payload, **signing)

    async def block_suggestion(
        self,
        action_id: str,
        value: str,
        *,
        block_id: str,
        view: dict[str, Any],
        user_id: str = "UADMIN",
        **signing: Any,
    ) -> Reply:
        payload = self._base("block_suggestion", user_id) | {
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "view": self._view_payload(view, {}),
        }
        return await self._interaction(payload, **signing)

    def _view_payload(self, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        view_id = view.get("id") or "V" + uuid.uuid4().hex[:10].upper()
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "blocks": view.get("blocks", []),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "state": {"values": values},
            "hash": view.get("hash", "h1"),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": "",
            "bot_id": "BBOT",
        }

    async def view_submission(
        self, view: dict[str, Any], values: dict[str, Any], user_id: str = "UADMIN", **signing: Any
    ) -> Reply:
        payload = self._base("view_submission", user_id) | {
            "trigger_id": _trigger(),
            "view": self._view_payload(view, values),
            "response_urls": [],
        }
        return await self._interaction(payload, **signing)

    async def view_closed(self, view: dict[str, Any], user_id: str = "UADMIN") -> Reply:
        payload = self._base("view_closed", user_id) | {
            "view": self._view_payload(view, {}),
            "is_cleared": False,
        }
        return await self._interaction(payload)

    async def shortcut(self, callback_id: str, user_id: str = "UADMIN", **signing: Any) -> Reply:
        payload = self._base("shortcut", user_id) | {
            "callback_id": callback_id,
            "trigger_id": _trigger(),
            "action_ts": str(time.time()),
        }
        return await self._interaction(payload, **signing)

    async def message_shortcut(
        self,
        callback_id: str,
        message: dict[str, Any],
        channel_id: str = "C0001",
        user_id: str = "UADMIN",
        **signing: Any,
    ) -> Reply:
        self.last_response_url = self.fake.new_response_url()
        payload = self._base("message_action", user_id) | {
            "callback_id": callback_id,
            "trigger_id": _trigger(),
            "message_ts": message.get("ts", "1.0"),
            "message": message,
            "channel": {"id": channel_id, "name": "general"},
            "response_url": self.last_response_url,
            "action_ts": str(time.time()),
        }
        return await self._interaction(payload, **signing)

    async def event(self, event: dict[str, Any], event_id: str | None = None, **signing: Any) -> Reply:
        envelope = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event | {"event_ts": str(time.time())},
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.team_id, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
        }
        return await self._post(json.dumps(envelope), "application/json", **signing)

    async def url_verification(self, challenge: str) -> Reply:
        body = {"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}
        return await self._post(json.dumps(body), "application/json")

    def form_values(self, view: dict[str, Any], simple: dict[str, Any]) -> dict[str, Any]:
        """{block_id: simple value} -> Slack's `view.state.values`, shaped by each input's element type."""
        values: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input" or block["block_id"] not in simple:
                continue
            element, value = block["element"], simple[block["block_id"]]
            kind = element["type"]
            if value is None:
                state: dict[str, Any] = {"type": kind, "value": None}
            elif kind in ("static_select", "external_select", "radio_buttons"):
                state = {
                    "type": kind,
                    "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
                }
            elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
                items = (
                    value if isinstance(value, list) else ([element["options"][0]["value"]] if value else [])
                )
                state = {
                    "type": kind,
                    "selected_options": [
                        {"value": v, "text": {"type": "plain_text", "text": v}} for v in items
                    ],
                }
            elif kind == "multi_users_select":
                state = users_value(value)
            elif kind == "file_input":
                state = file_value(value)
            elif kind == "datepicker":
                state = date_value(value)
            elif kind == "datetimepicker":
                state = datetime_value(value)
            else:
                state = {"type": kind, "value": value}
            values[block["block_id"]] = {element["action_id"]: state}
        return values
