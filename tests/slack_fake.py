"""A fake Slack Web API on loopback: real HTTP through slack_sdk, every call recorded, every emitted view
and message checked against Block Kit limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
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


@dataclass
class Upload:
    file_id: str
    filename: str
    content: bytes = b""
    channel_id: str | None = None
    initial_comment: str | None = None
    title: str | None = None
    thread_ts: str | None = None


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

    def add_file(self, name: str, content: bytes, mimetype: str, filetype: str) -> dict[str, Any]:
        file_id = self._next_id("F")
        url = f"{self.base_url}/files-pri/{file_id}/{name}"
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
        return info

    def uploaded_files(self) -> list[Upload]:
        return [u for u in self.uploads.values() if u.channel_id is not None or u.content]

    def new_response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

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
        self.calls.append(Call(method, params, dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.disconnecting:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if method in self.failing:
            return web.json_response({"ok": False, "error": self.failing[method]})
        if self.rate_limited.get(method):
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(self.retry_after.get(method, 1))},
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
        return web.json_response({"ok": True, **handler(params)})

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

    _views_open = _views_push = _views_update = _views_publish = _view

    def _ts(self) -> str:
        return f"1700000000.{next(self._ids):06d}"

    def _chat_postMessage(self, params: dict) -> dict:
        channel = params.get("channel")
        return {
            "channel": channel,
            "ts": self._ts(),
            "message": {"text": params.get("text"), "blocks": params.get("blocks")},
        }

    def _chat_update(self, params: dict) -> dict:
        return {"channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}

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
        channel = str(params.get("channel", ""))
        return {
            "channel": {"id": channel, "is_shared": False, "is_ext_shared": False}
            | self.channels.get(channel, {})
        }

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
        if file_id not in self.files:
            return {"ok": False, "error": "file_not_found"}
        return {"file": self.files[file_id][0]}

    def _files_getUploadURLExternal(self, params: dict) -> dict:
        file_id = self._next_id("F")
        self.uploads[file_id] = Upload(file_id=file_id, filename=str(params.get("filename", "")))
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict) -> dict:
        done = []
        for entry in params.get("files") or []:
            upload = self.uploads.get(entry["id"])
            if upload is None:
                continue
            upload.title = entry.get("title")
            upload.channel_id = params.get("channel_id") or params.get("channels") or "UNSHARED"
            upload.initial_comment = params.get("initial_comment")
            upload.thread_ts = params.get("thread_ts")
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
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=403, text="forbidden")
        info, content = self.files.get(request.match_info["file_id"], (None, b""))
        if info is None:
            return web.Response(status=404)
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
        body = await request.json()
        try:
            validate_message(body)
        except BlockKitError as error:
            self.violations.append(f"response_url: {error}")
            return web.Response(status=400, text="invalid_blocks")
        self.responses.setdefault(request.match_info["n"], []).append(body)
        return web.Response(text="ok")
