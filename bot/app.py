"""The Bolt app and the aiohttp web application around it (`/slack/events`, `/healthz`)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookResponse
from sqlalchemy.exc import SQLAlchemyError

import handlers
from bot import api, mailparse, memory, render, telemetry
from bot.errors import Ambiguous, DomainError, Redelivery, ValidationFailed
from bot.lifecycle import LIFECYCLE_KEY, drain_on_shutdown, refuse_while_draining
from bot.response_url import post_response
from bot.runtime import Runtime
from bot.services import deliveries, email_ingest
from handlers.commands import ROUTES
from handlers.common import DRIVER_KEY, SENDER_KEY
from views.common import mended

log = logging.getLogger(__name__)
RUNTIME_KEY = web.AppKey("runtime", Runtime)
BOLT_KEY = web.AppKey("bolt", AsyncApp)


def slack_client(rt: Runtime) -> AsyncWebClient:
    """One Web API client: base URL from config, retries on rate limits and connection errors, over the
    shared keep-alive session when the web app runs."""
    return AsyncWebClient(
        token=rt.settings.slack_bot_token,
        base_url=rt.settings.slack_api_url,
        session=rt.http,
        retry_handlers=[
            telemetry.MeteredCalls(),  # counts every answer, never retries
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            telemetry.MeteredRateLimits(max_retry_count=2),
        ],
    )


def create_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=slack_client(rt),
        signing_secret=rt.settings.slack_signing_secret or "",
        process_before_response=False,  # ack first, then work
    )

    async def attach_runtime(request: AsyncBoltRequest, next: Any) -> None:
        context = request.context
        context["rt"] = rt
        if rt.http is not None and context.response_url:
            context["respond"] = SessionRespond(response_url=context.response_url, session=rt.http)
        await next()

    async def skip_redelivery(request: AsyncBoltRequest, next: Any) -> BoltResponse | None:
        """Slack retries what it thinks was not acked (`X-Slack-Retry-Num`), and a captured request can be
        replayed byte for byte within the signature's 5 minutes: a redelivery of something already
        received does nothing, so it never writes twice. Commands and clicks are acked first (their ack
        is an empty 200 either way) and recognised right after (`DeliveryAck`): nothing touches the
        database before their ack. Anything else is recognised before its ack, in one statement, and
        answered with an empty 200."""
        key = deliveries.delivery_key(request.body, request.raw_body)
        if key is not None and deliveries.acked_first(request.body):
            request.context["ack"] = DeliveryAck(rt, key, request.context)
        elif key is not None and not await _first_delivery(rt, key, request.context):
            return BoltResponse(status=200, body="")
        await next()
        return None

    for middleware in (mend_lone_surrogates, telemetry.measurer(ROUTES), attach_runtime, skip_redelivery):
        app.use(Direct(middleware))
    handlers.register(app)
    telemetry.install_listener_hooks(app)
    app.listener_runner.listener_completion_handler = ReleaseHeld(
        app.listener_runner.listener_completion_handler
    )
    return app


class Direct(AsyncMiddleware):
    """A global middleware called as `func(request, next)`. Bolt calls a function middleware with the
    arguments its signature names, and builds every argument it could inject to pick them, on each call
    (the body read as each of ten payload kinds, the context's utilities made: ~15 µs a middleware here,
    four per request)."""

    def __init__(self, func: Callable[[AsyncBoltRequest, Any], Awaitable[BoltResponse | None]]) -> None:
        self.func = func

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        return await self.func(req, next)

    @property
    def name(self) -> str:
        return f"Direct({self.func.__qualname__})"


# A lone surrogate (`views.common.mended`) escaped in a payload's raw body (JSON, or JSON inside a form:
# %5Cu) is mended before any listener reads the body; other bodies are not walked.
_SURROGATE_ESCAPE = re.compile(r"(?:\\|%5[cC])u[dD][89a-fA-F]")


async def mend_lone_surrogates(request: AsyncBoltRequest, next: Any) -> BoltResponse | None:
    if _SURROGATE_ESCAPE.search(request.raw_body):
        mended(request.body)
    await next()
    return None


class DeliveryAck(AsyncAck):
    """Bolt's `ack()` that, once the ack is on its way, records the delivery and raises Redelivery when it
    had been received before. Listeners call `ack()` before any other work.

    An ack once given stays given. When a listener raises after acking, Bolt's asyncio runner sets
    `ack.response = None` (slack_bolt/listener/asyncio_runner.py, run_ack_function_asynchronously); if
    the error came within the runner's 10 ms ack poll (a refusal read from the database, a Redelivery),
    the dispatch then waited its whole 3 s ack timeout and warned that the listener never called ack()."""

    def __init__(self, rt: Runtime, key: str, context: AsyncBoltContext) -> None:
        self._given: BoltResponse | None = None
        super().__init__()
        self.rt, self.key, self.context = rt, key, context

    @property
    def response(self) -> BoltResponse | None:
        return self._given

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if self._given is None:
            self._given = value

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        if not await _first_delivery(self.rt, self.key, self.context, keep=True):
            raise Redelivery(self.key)
        return response


async def _first_delivery(rt: Runtime, key: str, context: AsyncBoltContext, *, keep: bool = False) -> bool:
    """Record the delivery; False for a redelivery. The sender's stored user, read in the same statement,
    is left in `context` for the listener's `acting()` (handlers/common.py); with `keep` (the listener is
    running: it called `ack()`), so is the connection it was read on (PostgreSQL), for the listener's
    reads, returned when the listener ends if it did not take it (`ReleaseHeld`)."""
    try:
        receipt = await deliveries.receive(rt.db.autocommit_engine, key, context.user_id, keep=keep)
    except (SQLAlchemyError, OSError):
        return True  # the database is down: let the listener go on and tell the user
    context[SENDER_KEY] = (context.user_id, receipt.sender)
    if receipt.driver is not None:
        context[DRIVER_KEY] = receipt.driver
    return receipt.first


class ReleaseHeld:
    """Bolt's listener completion handler (it runs when a listener ends, raised or not), wrapped: returns
    the delivery's connection to the pool if the listener never took it (`acting()`)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        held = request.context.pop(DRIVER_KEY, None)
        if held is not None:
            held.release()
        await self.handler.handle(request=request, response=response)


class SessionRespond(AsyncRespond):
    """Bolt's `respond()` over the shared keep-alive session (Bolt's own opens a new connection per reply),
    its body encoded by orjson."""

    def __init__(self, *, response_url: str, session: aiohttp.ClientSession) -> None:
        super().__init__(response_url=response_url)
        self.session = session

    async def __call__(self, text: str | dict = "", **kwargs: Any) -> WebhookResponse:
        message = _build_message(**text) if isinstance(text, dict) else _build_message(text=text, **kwargs)
        return await post_response(self.session, self.response_url, message)


def create_web_app(rt: Runtime, bolt: AsyncApp | None) -> web.Application:
    """HTTP routes. `bolt` is None in Socket Mode, where Slack traffic arrives over the socket instead."""
    web_app = web.Application(middlewares=[refuse_while_draining])
    web_app[RUNTIME_KEY] = rt
    web_app[LIFECYCLE_KEY] = rt.lifecycle
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", telemetry.metrics)
    api.add_routes(web_app, rt)
    web_app.router.add_post("/integrations/email", ingest_email)
    if rt.settings.email_secret:
        web_app.on_startup.append(_start_email_workers)
    web_app.on_startup.append(_start_render_workers)
    if bolt is not None:
        web_app[BOLT_KEY] = bolt
        web_app.router.add_post("/slack/events", slack_events)
    web_app.on_shutdown.append(drain_on_shutdown)
    web_app.cleanup_ctx.append(_shared_http)
    web_app.cleanup_ctx.append(memory.heap_upkeep)
    web_app.on_cleanup.append(_dispose)
    return web_app


# Slack signs every request with `X-Slack-Request-Timestamp` (Unix seconds) and `X-Slack-Signature`
# (`v0=` + hex HMAC-SHA256): https://api.slack.com/authentication/verifying-requests-from-slack
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# Slash commands and interactivity arrive form-encoded, the Events API as JSON.
_SLACK_CONTENT_TYPES = ("application/x-www-form-urlencoded", "application/json")


async def slack_events(request: web.Request) -> web.Response:
    """Verify, then parse, then dispatch: nothing an unsigned or unreadable request says reaches a listener
    or the error handler (Bolt parses the body before verifying it, and a malformed timestamp made its
    verifier raise into the global error handler with the unverified body)."""
    started = time.perf_counter()
    bolt = request.app[BOLT_KEY]
    refused = await _refuse_unverified(request, request.app[RUNTIME_KEY].settings.slack_signing_secret)
    if refused is not None:
        return refused
    if not _readable(await request.text(), request.content_type):
        return web.json_response({"error": "unreadable body"}, status=400)
    bolt_request = await to_bolt_request(request)
    if deliveries.acked_first(bolt_request.body):
        # A command's or a click's ack is an empty 200 whatever follows: send it now, before Bolt's
        # middleware and its 10 ms ack poll, and let Bolt run the listener behind it (drained on SIGTERM).
        bolt_request.context["cb_acked"] = True  # the ack is timed here, not by Bolt's middleware
        request.app[RUNTIME_KEY].lifecycle.track(asyncio.create_task(_dispatch_acked(bolt, bolt_request)))
        telemetry.observe_ack(bolt_request.body, time.perf_counter() - started)
        return web.Response(status=200)
    response = await bolt.async_dispatch(bolt_request)
    return await to_aiohttp_response(response)


async def _dispatch_acked(bolt: AsyncApp, request: AsyncBoltRequest) -> None:
    """Bolt's dispatch of a request already acked: its own ack response goes nowhere, so anything but a
    200 (no listener for this action, say) is logged."""
    response = await bolt.async_dispatch(request)
    if response.status != 200:
        log.warning("Slack request acked but not handled by Bolt: %s %s", response.status, response.body)


def _readable(body: str, content_type: str) -> bool:
    """A JSON object (Events API), or a form whose `payload`, when there is one, is a JSON object."""
    try:
        if content_type == "application/json":
            return isinstance(json.loads(body), dict)
        payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
        return payload is None or isinstance(json.loads(payload), dict)
    except ValueError:
        return False


async def _refuse_unverified(request: web.Request, secret: str | None) -> web.Response | None:
    """401 unless exactly one well-formed timestamp and signature header sign this exact body; 400 for a
    signed body that is not UTF-8 text of a kind Slack sends."""
    timestamps = request.headers.getall("X-Slack-Request-Timestamp", [])
    signatures = request.headers.getall("X-Slack-Signature", [])
    unauthorized = web.json_response({"error": "invalid request"}, status=401)
    if not secret or len(timestamps) != 1 or len(signatures) != 1:
        return unauthorized
    timestamp, signature = timestamps[0], signatures[0]
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return unauthorized
    try:
        body = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        return web.json_response({"error": "unreadable body"}, status=400)
    if not SignatureVerifier(secret).is_valid(body, timestamp, signature):
        return unauthorized
    if request.content_type not in _SLACK_CONTENT_TYPES:
        return web.json_response({"error": "unsupported content type"}, status=400)
    return None


async def ingest_email(request: web.Request) -> web.Response:
    """`POST /integrations/email`: a raw RFC 822 message, authenticated by X-Clientbot-Secret."""
    rt = request.app[RUNTIME_KEY]
    secret = rt.settings.email_secret
    if not secret:
        return api.error_response(404, "not_found", "Email logging is off (set CLIENTBOT_EMAIL_SECRET).")
    if not hmac.compare_digest(request.headers.get("X-Clientbot-Secret", "").encode(), secret.encode()):
        return api.error_response(401, "unauthorized", "Wrong or missing X-Clientbot-Secret.")
    settings = rt.settings
    limit = settings.email_max_bytes
    too_large = f"The message is larger than {settings.email_max_mb} MB (CLIENTBOT_EMAIL_MAX_MB)."
    if (request.content_length or 0) > limit:
        return api.error_response(413, "too_large", too_large)
    # The whole body, however the client sends it (Content-Length or chunked): `read(n)` would answer with
    # whatever happens to be buffered. Kept as received, in chunks (see email_ingest.ingest).
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return api.error_response(413, "too_large", too_large)
        chunks.append(chunk)
    try:
        async with rt.db.session() as session:
            record, created = await email_ingest.ingest(
                session,
                rt.storage,
                chunks,
                auth_policy=settings.email_auth,
                authserv_ids=settings.email_authserv_id,
                max_bytes=limit,
                parse_timeout=settings.email_parse_timeout,
            )
    except ValidationFailed as error:
        return api.error_response(422, error.code, str(error), error.fields)
    except DomainError as error:
        status = 422 if isinstance(error, Ambiguous) else error.http_status
        return api.error_response(status, error.code, str(error))
    return web.json_response(
        {
            "id": str(record.id),
            "client_id": str(record.client_id),
            "attachments": len(record.attachments or []),
            "already_logged": not created,
            "verified": record.source == email_ingest.SOURCE,
        },
        status=201 if created else 200,
    )


async def _start_email_workers(web_app: web.Application) -> None:
    """The email parsing processes start with the app, not on the first message."""
    await asyncio.to_thread(mailparse.start_workers)


async def _shared_http(web_app: web.Application) -> AsyncIterator[None]:
    """The keep-alive session every Slack call goes through while the app runs (`Runtime.http`)."""
    rt = web_app[RUNTIME_KEY]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        rt.http = session
        if BOLT_KEY in web_app:
            web_app[BOLT_KEY].client.session = session  # Bolt copies it into each request's client
        yield
        rt.http = None


async def _start_render_workers(web_app: web.Application) -> None:
    """The chart and PDF processes start with the app, not on the first export."""
    await asyncio.to_thread(render.start)


async def healthz(request: web.Request) -> web.Response:
    ok = await request.app[RUNTIME_KEY].db.ping()
    body = {"status": "ok" if ok else "unavailable", "database": "ok" if ok else "unreachable"}
    return web.json_response(body, status=200 if ok else 503)


async def readyz(request: web.Request) -> web.Response:
    """Readiness for a load balancer: 503 as soon as the replica drains (SIGTERM), or while the database
    is unreachable; `/healthz` is liveness and stays 200 while draining."""
    rt = request.app[RUNTIME_KEY]
    if rt.lifecycle.draining:
        return web.json_response({"status": "draining"}, status=503)
    ok = await rt.db.ping()
    return web.json_response({"status": "ready" if ok else "unavailable"}, status=200 if ok else 503)


async def _dispose(web_app: web.Application) -> None:
    rt = web_app[RUNTIME_KEY]
    await rt.storage.close()
    await rt.db.dispose()
