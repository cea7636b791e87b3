"""A lean fake Slack Web API on loopback for `bench.load`: it answers, in Slack's shapes, the calls clientbot
and the bare Bolt app make under load, and times each reply posted to a `response_url`.

Unlike tests/slack_fake.py it checks no Block Kit and keeps no history (both cost CPU that would be charged
to the load generator): it is a timing instrument, not a strictness test. Shapes follow the method pages at
https://api.slack.com/methods/ (auth.test, users.info, conversations.open, chat.postMessage, chat.update,
files.getUploadURLExternal, files.completeUploadExternal, views.open/update) and
https://api.slack.com/interactivity/handling#message_responses for response_url posts."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TEAM_ID = "T0001"
# How a reply that is not the last one (progress) and one that is an error begin (views/common.py,
# views/users.py, views/dashboard.py): the load generator waits for the final reply and counts errors.
PROGRESS_MARK = ":hourglass_flowing_sand:"
ERROR_MARKS = (":warning:", ":no_entry:", ":x:")


def _lead_text(body: dict[str, Any]) -> str:
    """The text of a message's first block (progress and error messages are one section starting with
    their emoji), else its fallback `text`."""
    blocks = body.get("blocks") or []
    first = blocks[0] if blocks and isinstance(blocks[0], dict) else {}
    return str((first.get("text") or {}).get("text") or body.get("text") or "")


@dataclass
class Reply:
    at: float  # time.perf_counter() when the final reply arrived
    size: int  # bytes of its JSON body
    error: bool
    text: str


@dataclass
class FakeSlack:
    token: str
    users: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    waiting: dict[str, asyncio.Future[Reply]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._response)
        self._runner = web.AppRunner(app, access_log=None)
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

    def response_url(self) -> tuple[str, asyncio.Future[Reply]]:
        """A fresh response_url and the future its final reply resolves."""
        key = str(next(self._ids))
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        return f"{self.base_url}/response/{key}", future

    def forget(self, url: str) -> None:
        self.waiting.pop(url.rsplit("/", 1)[-1], None)

    # -- HTTP ------------------------------------------------------------------------------------------
    async def _response(self, request: web.Request) -> web.Response:
        raw = await request.read()
        at = time.perf_counter()
        self.calls["response_url"] += 1
        future = self.waiting.get(request.match_info["key"])
        lead = _lead_text(json.loads(raw or b"{}"))
        if lead.startswith(PROGRESS_MARK):
            return web.Response(text="ok")
        if future is not None and not future.done():
            future.set_result(Reply(at, len(raw), lead.startswith(ERROR_MARKS), lead[:200]))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        size = len(await request.read())
        return web.Response(text=f"OK - {size}")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] += 1
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(await request.post())
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response({"ok": True, **handler(params)})

    def _ts(self) -> str:
        return f"1700000000.{next(self._ids):06d}"

    def _auth_test(self, _: dict) -> dict:
        return {
            "url": "https://bench.slack.com/",
            "team": "Bench",
            "user": "clientbot",
            "user_id": "UBOT",
            "bot_id": "BBOT",
            "team_id": TEAM_ID,
            "enterprise_id": None,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: dict) -> dict:
        user_id = str(params.get("user", ""))
        if user_id not in self.users:
            return {"ok": False, "error": "user_not_found"}
        name = user_id.lower()
        return {
            "user": {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": name,
                "deleted": False,
                "real_name": f"Bench {name}",
                "tz": "Europe/London",
                "tz_label": "Europe/London",
                "tz_offset": 0,
                "is_admin": False,
                "is_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": False,
                "is_app_user": False,
                "updated": 1700000000,
                "profile": {"display_name": name, "real_name": f"Bench {name}", "team": TEAM_ID},
            }
        }

    def _conversations_open(self, params: dict) -> dict:
        return {"channel": {"id": "D" + str(params.get("users", "")).replace(",", "")[:10]}}

    def _conversations_info(self, params: dict) -> dict:
        channel = str(params.get("channel", ""))
        return {"channel": {"id": channel, "is_member": True, "is_shared": False, "is_ext_shared": False}}

    def _chat_postMessage(self, params: dict) -> dict:
        ts = self._ts()
        return {"channel": params.get("channel"), "ts": ts, "message": {"text": params.get("text"), "ts": ts}}

    def _chat_update(self, params: dict) -> dict:
        return {"channel": params.get("channel"), "ts": params.get("ts"), "text": params.get("text")}

    def _chat_postEphemeral(self, _: dict) -> dict:
        return {"message_ts": self._ts()}

    def _views_open(self, params: dict) -> dict:
        view = params.get("view") or {}
        view = json.loads(view) if isinstance(view, str) else dict(view)
        return {"view": view | {"id": f"V{next(self._ids):08d}", "hash": self._ts()}}

    _views_push = _views_open
    _views_publish = _views_open

    def _views_update(self, params: dict) -> dict:
        view = params.get("view") or {}
        view = json.loads(view) if isinstance(view, str) else dict(view)
        return {"view": view | {"id": params.get("view_id") or "V0", "hash": self._ts()}}

    def _files_getUploadURLExternal(self, params: dict) -> dict:
        file_id = f"F{next(self._ids):08d}"
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, params: dict) -> dict:
        files = params.get("files") or []
        files = json.loads(files) if isinstance(files, str) else files
        return {"files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _files_info(self, params: dict) -> dict:
        file_id = str(params.get("file", ""))
        return {"file": {"id": file_id, "shares": {"private": {"D0": [{"ts": self._ts()}]}}, "ims": ["D0"]}}
