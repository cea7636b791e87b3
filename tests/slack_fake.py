"""A fake Slack Web API on loopback: real HTTP through slack_sdk, every call recorded, every emitted view
and message checked against Block Kit limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.blockkit import BlockKitError, validate_message, validate_view

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def manifest_scopes() -> set[str]:
    """The bot scopes manifest.yml asks for: what a real installation's token carries."""
    return set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


VIEW_METHODS = {"views.open", "views.push", "views.update", "views.publish"}
MESSAGE_METHODS = {"chat.postMessage", "chat.postEphemeral", "chat.update"}
JSON_FIELDS = ("view", "blocks", "attachments", "files")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    response: dict[str, Any] | None = None  # what the fake answered (e.g. the view with its id and hash)


@dataclass
class Upload:
    file_id: str
    filename: str
    content: bytes = b""
    channel_id: str | None = None
    initial_comment: str | None = None
    title: str | None = None
    thread_ts: str | None = None
    completed: float | None = None  # time.monotonic() of files.completeUploadExternal


# Slack's own limits the fake enforces (each cited where it is checked).
TRIGGER_SECONDS = (
    3.0  # https://api.slack.com/interactivity/handling#modal_responses: "expire after 3 seconds"
)
VIEW_STACK_MAX = 3  # https://api.slack.com/methods/views.push: push_limit_reached, "Currently the limit is 3"
RESPONSE_URL_POSTS = 5  # https://api.slack.com/interactivity/handling#message_responses: "up to 5 times
RESPONSE_URL_SECONDS = 30 * 60  # within 30 minutes"
# What files.slack.com answers for url_private when the token can't see the file: HTTP 200 and the browser
# sign-in page, not an error (slackapi/bolt-js#2585, slack-go/slack#1284: "returns HTML instead of bytes").
SIGN_IN_PAGE = (
    b'<!DOCTYPE html><html lang="en-US"><head><title>Slack</title></head>'
    b"<body><h1>Sign in to your workspace</h1></body></html>"
)


@dataclass
class Trigger:
    """A trigger_id the fake issued for one interaction; `view_id` when it came from inside a modal."""

    issued: float
    view_id: str | None = None
    used: bool = False
    age_when_refused: float | None = None  # seconds, when it came back expired (for the failure message)


@dataclass
class OpenView:
    """A modal the user has open, as Slack keeps it: current hash, external_id, its stack."""

    view: dict[str, Any]
    root_id: str
    closed: bool = False
    seq: int = 0  # order of the last change, so the latest shown view can be found


@dataclass
class ResponseUrl:
    """One response_url: the message it belongs to (the one holding the clicked button, or for a slash
    command the ephemeral answers posted through it), and when it was used."""

    created: float
    original: dict[str, Any] | None = None
    posts: list[float] = field(default_factory=list)


@dataclass
class FakeSlack:
    token: str = "xoxb-test"
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)  # method -> how many calls to answer 429
    failing: dict[str, str] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # channel id -> conversations.info extras  # method -> the Slack error it answers with
    triggers: dict[str, Trigger] = field(default_factory=dict)
    views: dict[str, OpenView] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # method -> answered once set
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) -> message
    share_delay: float = 0.3  # seconds before an uploaded file shows its shares (files.info)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (method, error) of each ok: false
    deleted_channels: set[str] = field(default_factory=set)  # ids that answer channel_not_found

    # The installation the token belongs to, as auth.test reports it (enterprise_id only on Enterprise Grid).
    team_id: str = "T0001"
    enterprise_id: str | None = None
    # The token's scopes, as granted from manifest.yml; `profile.email` needs users:read.email.
    scopes: set[str] = field(default_factory=manifest_scopes)
    # Retry-After (seconds) answered with a 429, per method; 1 unless set.
    retry_after: dict[str, int] = field(default_factory=dict)
    # Methods whose connection drops before any answer (a network failure, not a Slack error).
    disconnecting: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.no_access: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{n}", self._response)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -- test helpers ----------------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, predicate: Any = None, timeout: float = 5.0) -> Call:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.calls_to(method):
                if predicate is None or predicate(call):
                    return call
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {method} call; seen: {[c.method for c in self.calls]}")

    def reset(self) -> None:
        self.calls.clear()
        self.responses.clear()

    def add_user(
        self,
        user_id: str,
        name: str,
        tz: str = "Europe/London",
        real_name: str | None = None,
        email: str | None = None,
        guest: bool = False,
        *,
        ultra_restricted: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        visible: bool = True,
    ) -> None:
        """Register a Slack user: users.info answers `user_not_found` for anyone not registered.
        `tz=None` leaves `tz` out (bots and some deactivated users have none); `team_id` defaults to the
        installation's (another one is a Slack Connect user); `visible=False` answers `user_not_visible`."""
        self.users[user_id] = {
            "name": name,
            "tz": tz,
            "real_name": real_name or name,
            "email": email,
            "guest": guest,
            "ultra_restricted": ultra_restricted,
            "deleted": deleted,
            "is_bot": is_bot,
            "team_id": team_id,
            "enterprise_id": enterprise_id,
            "visible": visible,
        }

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        member: bool = True,
        private: bool = False,
        archived: bool = False,
        shared: bool = False,
        ext_shared: bool = False,
    ) -> None:
        """A channel with its real state (conversations.info's fields). Channels no test configures are
        public channels the bot is a member of, as before."""
        self.channels[channel_id] = {
            "name": name or channel_id.lower(),
            "is_channel": not private,
            "is_group": private,
            "is_private": private,
            "is_member": member,
            "is_archived": archived,
            "is_shared": shared,
            "is_ext_shared": ext_shared,
            "is_org_shared": False,
        }

    def invite_bot(self, channel_id: str) -> None:
        """`/invite @clientbot` in the channel."""
        self.channels.setdefault(channel_id, {})["is_member"] = True

    def delete_channel(self, channel_id: str) -> None:
        self.deleted_channels.add(channel_id)

    def _channel_error(self, channel_id: str | None) -> str | None:
        """Why the bot cannot post into `channel_id`, as Slack names it; None when it can.
        https://api.slack.com/methods/chat.postMessage#errors: `channel_not_found` ("Value passed for
        channel was invalid"; also a private channel the bot is not in: Slack does not reveal it),
        `not_in_channel` (without the chat:write.public scope, which manifest.yml does not ask for, a bot
        posts only where it is a member), `is_archived` ("Channel has been archived").
        files.completeUploadExternal needs the same membership: getnao/nao#1372 (`not_in_channel`),
        slackapi/node-slack-sdk#1701 (`channel_not_found`)."""
        if not channel_id or channel_id[0] in "DUW":  # a DM, or a user id (the app's DM with them)
            return None
        if channel_id in self.deleted_channels:
            return "channel_not_found"
        info = self.channels.get(channel_id, {})
        member = info.get("is_member", True)
        if info.get("is_private") and not member:
            return "channel_not_found"
        if info.get("is_archived"):
            return "is_archived"
        return None if member else "not_in_channel"

    def user_object(self, user_id: str) -> dict[str, Any]:
        """A registered user as Slack shapes a user object (users.info, and `user` in user_change and
        team_join events): https://api.slack.com/types/user, https://api.slack.com/methods/users.info."""
        known = self.users[user_id]
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": known.get("team_id") or self.team_id,
            "name": known["name"],
            "deleted": known.get("deleted", False),
            "real_name": known["real_name"],
            "is_admin": False,
            "is_owner": False,
            "is_restricted": known.get("guest", False) or known.get("ultra_restricted", False),
            "is_ultra_restricted": known.get("ultra_restricted", False),
            "is_bot": known.get("is_bot", False),
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "display_name": known["name"],
                "display_name_normalized": known["name"],
                "real_name": known["real_name"],
                "real_name_normalized": known["real_name"],
                "team": known.get("team_id") or self.team_id,
            },
        }
        if known["tz"] is not None:  # optional: absent for bots and some deactivated accounts
            user |= {"tz": known["tz"], "tz_label": known["tz"], "tz_offset": 0}
        # The email is in the profile only when the token has users:read.email
        # (https://api.slack.com/methods/users.info: "users:read is no longer a sufficient scope").
        if known["email"] and "users:read.email" in self.scopes:
            user["profile"]["email"] = known["email"]
        enterprise = known.get("enterprise_id") or self.enterprise_id
        if enterprise:  # Enterprise Grid: @slack/web-api UsersInfoResponse.EnterpriseUser
            user["enterprise_user"] = {
                "id": user_id,
                "enterprise_id": enterprise,
                "enterprise_name": enterprise,
                "is_admin": False,
                "is_owner": False,
                "teams": [user["team_id"]],
            }
        return user

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        filetype: str,
        *,
        accessible: bool = True,
        url_private: str | None = None,
    ) -> dict[str, Any]:
        """A file in the workspace. `accessible=False`: the bot's token can't see it (url_private then
        answers Slack's sign-in page); `url_private`: where files.info says it lives."""
        file_id = self._next_id("F")
        url = url_private or f"{self.base_url}/files-pri/{file_id}/{name}"
        info = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(content),
            "url_private": url,
            "url_private_download": url,
        }
        self.files[file_id] = (info, content)
        if not accessible:
            self.no_access.add(file_id)
        return info

    def uploaded_files(self) -> list[Upload]:
        return [u for u in self.uploads.values() if u.channel_id is not None or u.content]

    def new_response_url(self, message: dict[str, Any] | None = None) -> str:
        """A response_url belonging to `message` (the message holding the clicked button), if any."""
        key = str(next(self._ids))
        self.response_urls[key] = ResponseUrl(created=time.monotonic(), original=message)
        return f"{self.base_url}/response/{key}"

    def original(self, url: str) -> dict[str, Any] | None:
        """The message a response_url belongs to, as it stands now (None once deleted)."""
        return self.response_urls[url.rsplit("/", 1)[-1]].original

    def age_response_url(self, url: str, seconds: float) -> None:
        """Let `seconds` pass for one response_url (its 30-minute life runs on time.monotonic)."""
        entry = self.response_urls[url.rsplit("/", 1)[-1]]
        entry.created -= seconds
        entry.posts = [t - seconds for t in entry.posts]

    # -- triggers and views ------------------------------------------------------------------------
    def issue_trigger(self, view_id: str | None = None) -> str:
        """A trigger_id for one interaction, in Slack's shape ("12345.98765.abcd2358fdea", views.open
        docs); `view_id` when the interaction happened inside that modal (views.push needs one)."""
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
        self.triggers[trigger] = Trigger(issued=time.monotonic(), view_id=view_id)
        return trigger

    def expire_trigger(self, trigger_id: str) -> None:
        self.triggers[trigger_id].issued -= TRIGGER_SECONDS + 1

    def adopt_view(self, view: dict[str, Any]) -> tuple[str, str]:
        """A view a test shows to its user (built by hand or taken from a call): the fake knows it as
        open, so the app can update it. Returns its (id, hash)."""
        view_id = view.get("id") or self._next_id("V")
        entry = self.views.get(view_id)
        if entry is None:
            stored = dict(view) | {"id": view_id, "hash": view.get("hash") or self._next_id("h")}
            root = view.get("root_view_id") or view_id
            entry = self.views[view_id] = OpenView(view=stored, root_id=root, seq=next(self._ids))
        return view_id, entry.view["hash"]

    def close_view(self, view_id: str) -> None:
        """The user closes the modal (the X): the view and every view pushed over it are gone, and
        views.update then answers not_found."""
        root = self.views[view_id].root_id
        stack = [v for v, e in self.views.items() if e.root_id == root and not e.closed]
        for other in stack[stack.index(view_id) :]:
            self.views[other].closed = True

    async def wait_for_modal(self, callback_id: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The modal the user sees once it is filled (not a "Loading…" placeholder): the latest opened,
        pushed or updated view still open (with `callback_id`, if given), with its id and hash."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = [
                e
                for e in self.views.values()
                if not e.closed
                and e.view.get("callback_id") != "loading"
                and (callback_id is None or e.view.get("callback_id") == callback_id)
            ]
            if shown:
                return max(shown, key=lambda e: e.seq).view
            await asyncio.sleep(0.01)
        raise AssertionError(
            f"no modal {callback_id or ''} open; calls seen: {[c.method for c in self.calls]}"
        )

    async def filled(self, call: Call, timeout: float = 5.0) -> dict[str, Any]:
        """The view a views.open / views.push `call` opened, once the app has put its content in place
        of the "Loading…" placeholder (views.update), with its current id and hash."""
        if not (call.response or {}).get("ok", True):
            trigger = self.triggers.get(str(call.params.get("trigger_id")))
            age = (
                f" {trigger.age_when_refused:.2f} s after it was issued"
                if trigger and trigger.age_when_refused
                else ""
            )
            raise AssertionError(f"{call.method} failed{age}: {call.response}")
        view_id = call.params["view"]["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.views[view_id].view
            if view.get("callback_id") != "loading":
                return view
            await asyncio.sleep(0.01)
        raise AssertionError(f"view {view_id} still loading; calls seen: {[c.method for c in self.calls]}")

    def open_view(self, view_id: str) -> dict[str, Any] | None:
        """The view as the user sees it now, or None once closed."""
        entry = self.views.get(view_id)
        return None if entry is None or entry.closed else entry.view

    def view_answered(self, submitted_id: str, answer: dict[str, Any] | None) -> None:
        """What Slack does with a view_submission's ack (https://api.slack.com/surfaces/modals#updating_response,
        #response_actions): `update` replaces the view in place (same id, new hash), `push` stacks a new
        view, `clear` closes the whole stack, `errors` keeps the view; a plain ack closes the view."""
        entry = self.views.get(submitted_id)
        if entry is None or entry.closed:
            return
        action = (answer or {}).get("response_action")
        if action == "errors":
            return
        if action == "update":
            entry.view = dict(answer["view"]) | {
                "id": submitted_id,
                "hash": self._next_id("h"),
                "root_view_id": entry.root_id,
            }
            entry.seq = next(self._ids)
        elif action == "push":
            pushed_id = self._next_id("V")
            self.views[pushed_id] = OpenView(
                view=dict(answer["view"])
                | {"id": pushed_id, "hash": self._next_id("h"), "root_view_id": entry.root_id},
                root_id=entry.root_id,
                seq=next(self._ids),
            )
        elif action == "clear":
            self.close_view(entry.root_id)
        else:
            self.close_view(submitted_id)

    def _take_trigger(self, params: dict) -> tuple[Trigger | None, str | None]:
        """views.open / views.push errors (https://api.slack.com/methods/views.open#errors): a trigger we
        never issued is invalid_trigger_id, one used before exchanged_trigger_id, one older than 3 s
        expired_trigger_id."""
        trigger = self.triggers.get(str(params.get("trigger_id") or ""))
        if trigger is None:
            return None, "invalid_trigger_id"
        if trigger.used:
            return None, "exchanged_trigger_id"
        if (age := time.monotonic() - trigger.issued) > TRIGGER_SECONDS:
            trigger.age_when_refused = age
            return None, "expired_trigger_id"
        trigger.used = True
        return trigger, None

    async def wait_for_response(
        self, url: str, timeout: float = 5.0, contains: str | None = None
    ) -> dict[str, Any]:
        """The latest body posted to a response_url (the latest one containing `contains`, if given)."""
        key = url.rsplit("/", 1)[-1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = [b for b in self.responses.get(key, []) if contains is None or contains in json.dumps(b)]
            if bodies:
                return bodies[-1]
            await asyncio.sleep(0.01)
        raise AssertionError(f"nothing posted to {url}; calls seen: {[c.method for c in self.calls]}")

    # -- HTTP ------------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            elif request.content_type.startswith("multipart/"):
                async for part in await request.multipart():
                    params[part.name] = await part.read() if part.filename else await part.text()
            else:
                params.update(await request.post())
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.gates:  # a test holds this method's answers until it has acted
            await self.gates[method].wait()
        if method in self.disconnecting:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if method in self.failing:
            return web.json_response({"ok": False, "error": self.failing[method]})
        if self.rate_limited.get(method):
            self.rate_limited[method] -= 1
            retry_after = str(self.retry_after.get(method, 1))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": retry_after}
            )
        try:
            if method in VIEW_METHODS:
                validate_view(params.get("view") or {})
            elif method in MESSAGE_METHODS:
                validate_message(params)
        except BlockKitError as error:
            self.violations.append(f"{method}: {error}")
            return web.json_response({"ok": False, "error": "invalid_blocks", "detail": str(error)})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = {"ok": True, **handler(params)}
        if not answer["ok"]:
            self.refused.append((method, answer["error"]))
        call.response = answer
        return web.json_response(answer)

    def hold(self, method: str) -> asyncio.Event:
        """Calls to `method` are received (and recorded) but answered only once the event is set."""
        self.gates[method] = asyncio.Event()
        return self.gates[method]

    def _auth_test(self, _: dict) -> dict:
        return {
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "clientbot",
            "user_id": "UBOT",
            "bot_id": "BBOT",
            # https://api.slack.com/methods/auth.test: "When working against a team within an Enterprise
            # organization, you'll also find their enterprise_id here."
            "team_id": self.team_id,
            "enterprise_id": self.enterprise_id,
            "is_enterprise_install": False,
        }

    def _view(self, params: dict) -> dict:
        view = dict(params.get("view") or {})
        view.setdefault("id", params.get("view_id") or self._next_id("V"))
        view["hash"] = self._next_id("h")
        return {"view": view}

    _views_publish = _view

    def _new_view(self, params: dict, root_id: str | None) -> dict:
        view = dict(params.get("view") or {})
        external_id = view.get("external_id")
        if external_id and any(
            e.view.get("external_id") == external_id and not e.closed for e in self.views.values()
        ):
            return {"ok": False, "error": "duplicate_external_id"}  # views.open/push errors
        view_id = self._next_id("V")
        view |= {"id": view_id, "hash": self._next_id("h"), "root_view_id": root_id or view_id}
        self.views[view_id] = OpenView(view=view, root_id=root_id or view_id, seq=next(self._ids))
        # The recorded call shows the view as the user got it (with its id), like the payloads that follow.
        params["view"] = view
        return {"view": view}

    def _views_open(self, params: dict) -> dict:
        _trigger, error = self._take_trigger(params)
        if error:
            return {"ok": False, "error": error}
        return self._new_view(params, None)

    def _views_push(self, params: dict) -> dict:
        """Only from an interaction inside an open modal, and at most 3 views deep
        (https://api.slack.com/methods/views.push: "After a modal is opened, the app is limited to
        pushing 2 additional views")."""
        trigger, error = self._take_trigger(params)
        if error:
            return {"ok": False, "error": error}
        below = self.views.get(trigger.view_id or "") if trigger else None
        if below is None or below.closed or below.view.get("type", "modal") != "modal":
            return {"ok": False, "error": "not_found"}  # nothing to push onto (a Home tab is no modal)
        depth = sum(1 for e in self.views.values() if e.root_id == below.root_id and not e.closed)
        if depth >= VIEW_STACK_MAX:
            return {"ok": False, "error": "push_limit_reached"}
        return self._new_view(params, below.root_id)

    def _views_update(self, params: dict) -> dict:
        """By view_id or external_id; a view that does not exist (or was closed) is not_found, a stale
        `hash` is hash_conflict (https://api.slack.com/methods/views.update#errors)."""
        if params.get("view_id"):
            entry = self.views.get(str(params["view_id"]))
        else:
            external_id = params.get("external_id") or (params.get("view") or {}).get("external_id")
            entry = next(
                (e for e in self.views.values() if external_id and e.view.get("external_id") == external_id),
                None,
            )
        if entry is None or entry.closed:
            return {"ok": False, "error": "not_found"}
        if params.get("hash") and params["hash"] != entry.view.get("hash"):
            return {"ok": False, "error": "hash_conflict"}
        view_id = entry.view["id"]
        entry.view = dict(params.get("view") or {}) | {
            "id": view_id,
            "hash": self._next_id("h"),
            "root_view_id": entry.root_id,
        }
        entry.seq = next(self._ids)
        return {"view": entry.view}

    def _ts(self) -> str:
        return f"1700000000.{next(self._ids):06d}"

    def _chat_postMessage(self, params: dict) -> dict:
        channel = params.get("channel")
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
        ts = self._ts()
        message = {"text": params.get("text"), "blocks": params.get("blocks"), "ts": ts}
        self.messages[(str(channel), ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict) -> dict:
        """Only a message that exists (https://api.slack.com/methods/chat.update#errors: message_not_found);
        the fake's DM channel ids are what conversations.open answered."""
        key = (str(params.get("channel")), str(params.get("ts")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key] = {"text": params.get("text"), "blocks": params.get("blocks"), "ts": key[1]}
        return {"channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        return self.messages[(channel, ts)]

    def _chat_postEphemeral(self, _: dict) -> dict:
        return {"message_ts": self._ts()}

    def _chat_getPermalink(self, params: dict) -> dict:
        return {
            "permalink": f"https://test.slack.com/archives/{params.get('channel')}/p{params.get('message_ts')}"
        }

    def _users_info(self, params: dict) -> dict:
        """https://api.slack.com/methods/users.info: `user_not_found` for an id Slack doesn't know,
        `user_not_visible` for one the token may not see; a deactivated user is still returned, with
        `deleted: true`."""
        user_id = str(params.get("user", ""))
        known = self.users.get(user_id)
        if known is None:
            return {"ok": False, "error": "user_not_found"}
        if not known.get("visible", True):
            return {"ok": False, "error": "user_not_visible"}
        return {"user": self.user_object(user_id)}

    def _conversations_info(self, params: dict) -> dict:
        # https://api.slack.com/methods/conversations.info: `channel_not_found` for an unknown id, and for a
        # private channel the bot is not in; a public one answers with is_member false.
        channel = str(params.get("channel", ""))
        info = self.channels.get(channel, {})
        if channel in self.deleted_channels or (info.get("is_private") and not info.get("is_member", True)):
            return {"ok": False, "error": "channel_not_found"}
        return {"channel": {"id": channel, "is_shared": False, "is_ext_shared": False} | info}

    def _conversations_open(self, params: dict) -> dict:
        """https://api.slack.com/methods/conversations.open: a deactivated user answers `user_disabled`,
        an unknown one `user_not_found`; the DM's id (D...) is not the user's id (U...)."""
        users = str(params.get("users", ""))
        for user_id in users.split(","):
            known = self.users.get(user_id)
            if known is None:
                return {"ok": False, "error": "user_not_found"}
            if known.get("deleted"):
                return {"ok": False, "error": "user_disabled"}
        return {"channel": {"id": "D" + users.replace(",", "")[:10]}}

    def _files_info(self, params: dict) -> dict:
        file_id = params.get("file", "")
        if file_id in self.uploads and self.uploads[file_id].completed is not None:
            return {"file": self._uploaded_info(self.uploads[file_id])}
        if file_id not in self.files:
            return {"ok": False, "error": "file_not_found"}
        return {"file": self.files[file_id][0]}

    def _uploaded_info(self, upload: Upload) -> dict[str, Any]:
        """files.info of an uploaded file: Slack shares it asynchronously after completeUploadExternal
        (https://api.slack.com/methods/files.completeUploadExternal; python-slack-sdk's files_upload_v2
        notes the file is "not yet shared" in its answer), so `shares` is empty until processed."""
        info: dict[str, Any] = {
            "id": upload.file_id,
            "name": upload.filename,
            "title": upload.title,
            "size": len(upload.content),
            "shares": {},
            "channels": [],
        }
        assert upload.completed is not None
        if upload.channel_id != "UNSHARED" and time.monotonic() - upload.completed >= self.share_delay:
            kind = "public" if str(upload.channel_id).startswith("C") else "private"
            info["shares"] = {kind: {str(upload.channel_id): [{"ts": self._ts()}]}}
            info["channels" if kind == "public" else "ims"] = [upload.channel_id]
        return info

    def _files_getUploadURLExternal(self, params: dict) -> dict:
        file_id = self._next_id("F")
        self.uploads[file_id] = Upload(file_id=file_id, filename=str(params.get("filename", "")))
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict) -> dict:
        for channel in str(params.get("channel_id") or params.get("channels") or "").split(","):
            if error := self._channel_error(channel.strip()):
                return {"ok": False, "error": error}  # nothing is shared (see _channel_error)
        done = []
        for entry in params.get("files") or []:
            upload = self.uploads.get(entry["id"])
            if upload is None:
                continue
            upload.title = entry.get("title")
            upload.channel_id = params.get("channel_id") or params.get("channels") or "UNSHARED"
            upload.initial_comment = params.get("initial_comment")
            upload.thread_ts = params.get("thread_ts")
            upload.completed = time.monotonic()
            done.append(
                {
                    "id": upload.file_id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": len(upload.content),
                }
            )
        return {"files": done}

    async def _download(self, request: web.Request) -> web.Response:
        """url_private: the file's bytes for a token that may see it; for any other request Slack answers
        200 with its HTML sign-in page (see SIGN_IN_PAGE), never a 401/403."""
        file_id = request.match_info["file_id"]
        info, content = self.files.get(file_id, (None, b""))
        if info is None:
            return web.Response(status=404)
        if request.headers.get("Authorization") != f"Bearer {self.token}" or file_id in self.no_access:
            return web.Response(body=SIGN_IN_PAGE, content_type="text/html", charset="utf-8")
        return web.Response(body=content, content_type=info["mimetype"])

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        if request.content_type.startswith("multipart/"):
            async for part in await request.multipart():
                upload.content = await part.read()
        else:
            upload.content = await request.read()
        return web.Response(text=f"OK - {len(upload.content)}")

    async def _response(self, request: web.Request) -> web.Response:
        """A post to a response_url (https://api.slack.com/interactivity/handling#message_responses): at
        most 5 within 30 minutes, after which Slack answers HTTP 404 (getsentry/sentry#7955 and #73985
        ignore the expired case; the fake's bodies `used_url` / `expired_url` only name the two cases, an
        app must not rely on them). python-slack-sdk's WebhookClient returns the 404, it does not raise.
        `replace_original: true` overwrites the message the URL belongs to (for a button, the message
        holding it), `delete_original: true` deletes it; otherwise a new message is posted."""
        key = request.match_info["n"]
        entry = self.response_urls.setdefault(key, ResponseUrl(created=time.monotonic()))
        body = await request.json()
        now = time.monotonic()
        if now - entry.created > RESPONSE_URL_SECONDS:
            return web.Response(status=404, text="expired_url")
        if len(entry.posts) >= RESPONSE_URL_POSTS:
            return web.Response(status=404, text="used_url")
        entry.posts.append(now)
        if body.get("delete_original") in (True, "true"):
            entry.original = None
            self.responses.setdefault(key, []).append(body)
            return web.Response(text="ok")
        try:
            validate_message(body)
        except BlockKitError as error:
            self.violations.append(f"response_url: {error}")
            return web.Response(status=400, text="invalid_blocks")
        self.responses.setdefault(key, []).append(body)
        if body.get("replace_original") in (True, "true") or entry.original is None:
            # Replaces the message it belongs to; a slash command's first answer becomes its "original".
            entry.original = {
                k: v for k, v in body.items() if k not in ("replace_original", "delete_original")
            }
        return web.Response(text="ok")
