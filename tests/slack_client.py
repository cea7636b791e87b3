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


def _trigger(fake: FakeSlack, view_id: str | None = None) -> str:
    """Slack issues the trigger_id with the interaction; the fake keeps it (3 s, single use)."""
    return fake.issue_trigger(view_id)


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


# Slack's `view.state.values` entry for an input nobody touched, per element type: its initial value when
# the view set one, else Slack's empty shape (null for single values, [] for lists). Sources: the
# view_submission and block_actions fixtures of slackapi/bolt-python (tests/scenario_tests*), and
# https://api.slack.com/reference/interaction-payloads/views (state.values) with each element's page under
# https://api.slack.com/reference/block-kit/block-elements.
_STATE_KEYS: dict[str, tuple[str, str, Any]] = {  # type -> (state key, initial key, empty)
    "plain_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "email_text_input": ("value", "initial_value", None),
    "url_text_input": ("value", "initial_value", None),
    "rich_text_input": ("rich_text_value", "initial_value", None),
    "static_select": ("selected_option", "initial_option", None),
    "external_select": ("selected_option", "initial_option", None),
    "radio_buttons": ("selected_option", "initial_option", None),
    "multi_static_select": ("selected_options", "initial_options", []),
    "multi_external_select": ("selected_options", "initial_options", []),
    "checkboxes": ("selected_options", "initial_options", []),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "channels_select": ("selected_channel", "initial_channel", None),
    "multi_channels_select": ("selected_channels", "initial_channels", []),
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "datetimepicker": ("selected_date_time", "initial_date_time", None),
    "file_input": ("files", "", []),
}


def _stateful_elements(view: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every element of the view that has a state: inputs, and selects or pickers
    in actions blocks and section accessories (buttons and overflow menus have none)."""
    found = []
    for block in view.get("blocks", []):
        block_id = block.get("block_id")
        if not block_id:
            continue
        if block.get("type") == "input":
            elements = [block.get("element") or {}]
        elif block.get("type") == "actions":
            elements = block.get("elements") or []
        elif block.get("type") == "section":
            elements = [block.get("accessory") or {}]
        else:
            continue
        found += [(block_id, e) for e in elements if e.get("type") in _STATE_KEYS and e.get("action_id")]
    return found


def full_state(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Slack's whole `view.state.values` for `view`: what the test typed (`values`, in Slack's shape) and,
    for every other stateful element, its initial value or Slack's empty shape. Blocks the view does not
    have are left out, as Slack never sends them."""
    state: dict[str, Any] = {}
    for block_id, element in _stateful_elements(view):
        kind, action_id = element["type"], element["action_id"]
        key, initial_key, empty = _STATE_KEYS[kind]
        typed = (values.get(block_id) or {}).get(action_id)
        if typed is None:
            initial = element.get(initial_key) if initial_key else None
            typed = {"type": kind, key: initial if initial is not None else empty}
            if kind == "number_input" and initial is not None:
                typed[key] = str(initial)
        state.setdefault(block_id, {})[action_id] = typed
    return state


class SlackClient:
    def __init__(self, app_url: str, signing_secret: str, fake: FakeSlack, team_id: str = "T0001") -> None:
        self.url = f"{app_url}/slack/events"
        self.verifier = SignatureVerifier(signing_secret)
        self.fake, self.team_id = fake, team_id
        # Enterprise Grid: {"id": "E…", "name": "…"} puts every payload in that organisation, as Slack
        # does (bolt-python tests/scenario_tests/test_view_submission.py, test_block_actions.py).
        self.enterprise: dict[str, str] | None = None
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

    def _team(self) -> dict[str, Any]:
        team = {"id": self.team_id, "domain": "test"}
        if self.enterprise:
            team |= {"enterprise_id": self.enterprise["id"], "enterprise_name": self.enterprise["name"]}
        return team

    def _base(self, kind: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": self._team(),
            "enterprise": self.enterprise,
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
            "trigger_id": _trigger(self.fake),
        }
        if self.enterprise:
            form |= {"enterprise_id": self.enterprise["id"], "enterprise_name": self.enterprise["name"]}
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
        payload = self._base("block_actions", user_id) | {"actions": [action]}
        if view is not None:
            payload["view"] = self._view_payload(view, (view.get("state") or {}).get("values", {}))
            payload["trigger_id"] = trigger_id or _trigger(self.fake, payload["view"]["id"])
            payload["container"] = container or {"type": "view", "view_id": payload["view"]["id"]}
        else:
            # A click in an ephemeral message (what the app answers commands with) carries no `message`:
            # Slack keeps no copy of it (bolt-python tests/scenario_tests/test_block_actions.py). A click in
            # a posted message (`message` given) carries the message.
            ts = (message or {}).get("ts", "1700000000.000001")
            payload["container"] = container or {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": message is None,
            }
            payload["channel"] = {"id": channel_id, "name": "general"}
            if message is not None:
                payload["message"] = message | {"ts": ts}
            payload["state"] = {"values": {}}
            payload["response_url"] = response_url or self.fake.new_response_url(message)
            payload["trigger_id"] = trigger_id or _trigger(self.fake)
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

    def _view_payload(
        self, view: dict[str, Any], values: dict[str, Any], *, complete: bool = True
    ) -> dict[str, Any]:
        """The view as Slack sends it back: its blocks and the state of every stateful element in them
        (`full_state`), unless `complete` is False (a hostile test sends exactly `values`). Its id and hash
        are the ones the fake gave the app for this view when the app opened it; the fake keeps it open."""
        opened = self._opened(view)
        known = view if view.get("id") or not opened.get("id") else view | {"id": opened["id"]}
        view_id, view_hash = self.fake.adopt_view(known)  # the user has this view open in Slack
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
            "state": {"values": full_state(view, values) if complete else values},
            "hash": view_hash,
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view.get("root_view_id") or view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": "BBOT",
        }

    def _opened(self, view: dict[str, Any]) -> dict[str, Any]:
        """The view as the fake answered the app's latest views.open/push/update/publish of it."""
        for call in reversed(self.fake.calls):
            if call.params.get("view") is view or (call.params.get("view") == view and call.response):
                return (call.response or {}).get("view") or {}
        return {}

    async def view_submission(
        self,
        view: dict[str, Any],
        values: dict[str, Any],
        user_id: str = "UADMIN",
        *,
        complete: bool = True,
        **signing: Any,
    ) -> Reply:
        """Submit `view` (as the app opened it: take it from the fake's views.open/push/update call) with
        what the person typed, `values` in Slack's shape; every other input arrives as Slack sends it,
        with its initial value or its empty shape (`full_state`)."""
        payload = self._base("view_submission", user_id) | {
            "view": self._view_payload(view, values, complete=complete),
            "response_urls": [],
        }
        payload["trigger_id"] = _trigger(self.fake, payload["view"]["id"])
        answer = await self._interaction(payload, **signing)
        if answer.status == 200:
            self.fake.view_answered(payload["view"]["id"], answer.json)
        return answer

    async def submit_form(
        self, view: dict[str, Any], answers: dict[str, Any], user_id: str = "UADMIN", **signing: Any
    ) -> Reply:
        """A person fills the modal: `answers` is {block_id: simple value} (see `form_values`), everything
        else stays as the modal showed it."""
        return await self.view_submission(view, self.form_values(view, answers), user_id=user_id, **signing)

    async def view_closed(self, view: dict[str, Any], user_id: str = "UADMIN") -> Reply:
        payload = self._base("view_closed", user_id) | {
            "view": self._view_payload(view, {}),
            "is_cleared": False,
        }
        self.fake.close_view(payload["view"]["id"])
        return await self._interaction(payload)

    async def shortcut(self, callback_id: str, user_id: str = "UADMIN", **signing: Any) -> Reply:
        payload = self._base("shortcut", user_id) | {
            "callback_id": callback_id,
            "trigger_id": _trigger(self.fake),
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
            "trigger_id": _trigger(self.fake),
            "message_ts": message.get("ts", "1.0"),
            "message": message,
            "channel": {"id": channel_id, "name": "general"},
            "response_url": self.last_response_url,
            "action_ts": str(time.time()),
        }
        return await self._interaction(payload, **signing)

    async def event(self, event: dict[str, Any], event_id: str | None = None, **signing: Any) -> Reply:
        # The Events API envelope: https://api.slack.com/apis/connections/events-api#callback-field and
        # bolt-python tests/scenario_tests/test_events_org_apps.py, test_events_shared_channels.py.
        enterprise_id = self.enterprise["id"] if self.enterprise else None
        envelope = {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event | {"event_ts": str(time.time())},
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": enterprise_id,
                    "team_id": self.team_id,
                    "user_id": "UBOT",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + uuid.uuid4().hex,
        }
        if enterprise_id:
            envelope["enterprise_id"] = enterprise_id
        return await self._post(json.dumps(envelope), "application/json", **signing)

    async def open_home(self, user_id: str = "UADMIN", **signing: Any) -> Reply:
        """The person opens the app's Home tab. Once the app has published a Home for them, Slack's
        app_home_opened event carries that view, with its private_metadata and state
        (https://api.slack.com/events/app_home_opened); the first time it has none."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id[:10],
            "tab": "home",
        }
        published = [c for c in self.fake.calls_to("views.publish") if c.params.get("user_id") == user_id]
        if published:
            view = published[-1].params.get("view") or {}
            event["view"] = self._view_payload({"type": "home"} | view, {})
        return await self.event(event, **signing)

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
            if value is None:  # emptied by the person: Slack's empty shape for the element
                key, _, empty = _STATE_KEYS.get(kind, ("value", "", None))
                state: dict[str, Any] = {"type": kind, key: empty}
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
            elif kind in ("users_select", "conversations_select", "channels_select", "timepicker"):
                state = {"type": kind, _STATE_KEYS[kind][0]: value}
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
