"""A fake Slack Web API on loopback: real HTTP through slack_sdk, every call recorded, every emitted view
and message checked against Block Kit limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.blockkit import BlockKitError, validate_message, validate_view

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
    deleted_channels: set[str] = field(default_factory=set)  # ids that answer channel_not_found
    enterprise_id: str | None = None  # an installation in an Enterprise Grid workspace (auth.test says so)

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
    ) -> None:
        self.users[user_id] = {
            "name": name,
            "tz": tz,
            "real_name": real_name or name,
            "email": email,
            "guest": guest,
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
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.failing:
            return web.json_response({"ok": False, "error": self.failing[method]})
        if self.rate_limited.get(method):
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
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
        call.response = answer
        return web.json_response(answer)

    def _auth_test(self, _: dict) -> dict:
        return {
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "clientbot",
            "team_id": "T0001",
            "user_id": "UBOT",
            "bot_id": "BBOT",
        } | (
            {"enterprise_id": self.enterprise_id, "is_enterprise_install": False}
            if self.enterprise_id
            else {}
        )

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
        if error := self._channel_error(channel):
            return {"ok": False, "error": error}
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
        user_id = params.get("user", "")
        known = self.users.get(
            user_id, {"name": user_id.lower(), "tz": "UTC", "real_name": user_id, "email": None}
        )
        return {
            "user": {
                "id": user_id,
                "name": known["name"],
                "real_name": known["real_name"],
                "tz": known["tz"],
                "tz_offset": 0,
                "is_restricted": known.get("guest", False),
                "profile": {
                    "display_name": known["name"],
                    "real_name": known["real_name"],
                    "email": known["email"],
                },
            }
        }

    def _conversations_info(self, params: dict) -> dict:
        # https://api.slack.com/methods/conversations.info: `channel_not_found` for an unknown id, and for a
        # private channel the bot is not in; a public one answers with is_member false.
        channel = str(params.get("channel", ""))
        info = self.channels.get(channel, {})
        if channel in self.deleted_channels or (info.get("is_private") and not info.get("is_member", True)):
            return {"ok": False, "error": "channel_not_found"}
        return {"channel": {"id": channel, "is_shared": False, "is_ext_shared": False} | info}

    def _conversations_open(self, params: dict) -> dict:
        users = str(params.get("users", ""))
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
