"""Metrics (`GET /metrics`, Prometheus text format) and JSON-lines logs (CLIENTBOT_LOG_FORMAT=json).

`/metrics` is off unless CLIENTBOT_METRICS_TOKEN is set, and then answers only `Authorization: Bearer
TOKEN`. Counters live in this process: behind gunicorn with several workers, each worker is its own
target (scrape each, or run prometheus-client's multiprocess mode with PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, Info, generate_latest
from slack_bolt.listener.async_listener_completion_handler import AsyncDefaultListenerCompletionHandler
from slack_bolt.listener.async_listener_start_handler import AsyncDefaultListenerStartHandler
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from sqlalchemy import func, select

if TYPE_CHECKING:
    from bot.runtime import Runtime

REQUESTS = Counter(
    "clientbot_requests",
    "Slack requests handled, by kind, command/action/view and outcome",
    ["kind", "name", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "clientbot_request_seconds", "Time from receipt to the end of a listener's work", ["kind", "name"]
)
ACK_SECONDS = Histogram(
    "clientbot_ack_seconds",
    "Time from receipt to the acknowledgement (Slack allows 3 s)",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
SLACK_CALLS = Counter(
    "clientbot_slack_api_calls", "Slack Web API calls, by method and error", ["method", "error"]
)
RATE_LIMIT_WAITS = Counter(
    "clientbot_slack_rate_limit_waits", "Waits on a Slack 429 (Retry-After)", ["method"]
)
RATE_LIMIT_SECONDS = Counter("clientbot_slack_rate_limit_wait_seconds", "Seconds spent waiting on Slack 429s")
DB_POOL_IN_USE = Gauge("clientbot_db_pool_in_use", "Database connections checked out of the pool")
SCHEDULER_RUNS = Counter("clientbot_scheduler_runs", "Scheduled job runs", ["job"])
SCHEDULER_FAILURES = Counter("clientbot_scheduler_failures", "Scheduled job runs that raised", ["job"])
SCHEDULER_LAG = Gauge("clientbot_scheduler_lag_seconds", "How late the last run of a job started", ["job"])
DELIVERIES_PENDING = Gauge(
    "clientbot_deliveries_pending",
    "Scheduled digests/reminders not fully delivered yet (retried by the next run)",
)
STORED_BYTES = Counter("clientbot_stored_bytes", "Bytes written to the file store", ["kind"])
BUILD = Info("clientbot_build", "The running clientbot")

try:
    BUILD.info({"version": version("clientbot"), "python": sys.version.split()[0]})
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    BUILD.info({"version": "unknown", "python": sys.version.split()[0]})

# One request's identity for the JSON logs (set by the Bolt middleware below).
REQUEST = contextvars.ContextVar[dict[str, Any] | None]("clientbot_request", default=None)
_WORD = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _label(value: Any) -> str:
    """A bounded label: ids with numbers lose them (`contact_remove_3` -> `contact_remove_N`)."""
    text = re.sub(r"\d+", "N", str(value or "").strip().lower())
    return text if _WORD.fullmatch(text) else "other"


def describe(body: dict[str, Any], words: Collection[str] = ()) -> tuple[str, str]:
    """(kind, name) of a Slack payload: `command` + its first word when it is one of `words` (anything a
    user types would make the label set unbounded), `action` + action_id, `view` + callback_id,
    `shortcut` + callback_id, `event` + type."""
    kind = body.get("type") or ("command" if "command" in body else "other")
    if "command" in body:
        word = (str(body.get("text") or "").split() or ["help"])[0].lower()
        return "command", f"{_label(str(body['command']).lstrip('/'))} {word if word in words else 'other'}"
    if kind in ("block_actions", "block_suggestion", "interactive_message"):
        actions = body.get("actions") or [{}]
        action_id = actions[0].get("action_id") if kind != "block_suggestion" else body.get("action_id")
        return ("suggestion" if kind == "block_suggestion" else "action"), _label(action_id)
    if kind in ("view_submission", "view_closed"):
        return "view", _label((body.get("view") or {}).get("callback_id"))
    if kind in ("shortcut", "message_action"):
        return "shortcut", _label(body.get("callback_id"))
    if kind == "event_callback":
        return "event", _label((body.get("event") or {}).get("type"))
    return _label(kind), ""


def measurer(words: Collection[str]) -> Callable[..., Awaitable[None]]:
    """The Bolt global middleware (`request`, `next`) that labels each request (`words`: the slash
    command's subcommands)."""

    async def measured(request: Any, next: Any) -> None:
        await measure(request.body, request.context, next, words)

    return measured


async def measure(body: dict[str, Any], context: Any, next: Any, words: Collection[str] = ()) -> None:
    """Label the request and time its ack; the listener's end is timed by `_Completion`."""
    kind, name = describe(body, words)
    started = time.perf_counter()
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else body.get("user_id")
    if user is None and isinstance(body.get("event"), dict):
        user = body["event"].get("user") if isinstance(body["event"].get("user"), str) else None
    identity = {"request_id": context.get("cb_request_id") or _request_id(), "user": user, "command": name}
    context["cb_metric"] = (kind, name, started, identity)
    token = REQUEST.set(identity)
    try:
        await next()
    finally:
        if not context.get("cb_acked"):  # acked by the web layer already (`observe_ack`)
            ACK_SECONDS.labels(kind).observe(time.perf_counter() - started)
        REQUEST.reset(token)


def observe_ack(body: dict[str, Any], seconds: float) -> None:
    """The ack of a request the web layer answered before Bolt's middleware ran."""
    ACK_SECONDS.labels(describe(body)[0]).observe(seconds)


def _request_id() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


class _Start(AsyncDefaultListenerStartHandler):
    async def handle(self, request: Any, response: Any) -> None:
        metric = request.context.get("cb_metric")
        if metric:
            REQUEST.set(metric[3])  # the listener's task: its log lines carry the request
        await super().handle(request=request, response=response)


_REQUEST_LOG = logging.getLogger("clientbot.request")


class _Completion(AsyncDefaultListenerCompletionHandler):
    async def handle(self, request: Any, response: Any) -> None:
        metric = request.context.get("cb_metric")
        if metric:
            kind, name, started, identity = metric
            outcome = "error" if request.context.get("cb_failed") else "ok"
            elapsed = time.perf_counter() - started
            REQUESTS.labels(kind, name, outcome).inc()
            REQUEST_SECONDS.labels(kind, name).observe(elapsed)
            _REQUEST_LOG.info(
                "%s %s: %s", kind, name, outcome, extra={"duration_ms": round(elapsed * 1000, 1), **identity}
            )
        await super().handle(request=request, response=response)


class _Failed:
    """Marks the request failed, then hands the error to the app's own handler (`app.error`)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def handle(self, error: Exception, request: Any, response: Any) -> None:
        request.context["cb_failed"] = True
        await self.handler.handle(error=error, request=request, response=response)


def install_listener_hooks(app: Any) -> None:
    """Time each listener to its end (after the ack) and count its outcome, via Bolt's listener runner.
    Call after `app.error(...)` is registered (handlers.register)."""
    runner = app.listener_runner
    runner.listener_start_handler = _Start(logger=runner.logger)
    runner.listener_completion_handler = _Completion(logger=runner.logger)
    runner.listener_error_handler = _Failed(runner.listener_error_handler)


def _method(url: str) -> str:
    return _label(url.rstrip("/").rsplit("/", 1)[-1].replace(".", "_")).replace("_", ".")


class MeteredCalls(AsyncRetryHandler):
    """Not a retry: sees every Web API answer (first in the retry handlers, always declines) and counts it
    by method and error."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1_000_000)

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        method = _method(request.url)
        if error is not None:
            SLACK_CALLS.labels(method, _label(type(error).__name__)).inc()
        elif response is not None:
            body = response.body if isinstance(response.body, dict) else {}
            failed = response.status_code != 200 or body.get("ok") is False
            SLACK_CALLS.labels(
                method, _label(body.get("error") or response.status_code) if failed else ""
            ).inc()
        return False


class MeteredRateLimits(AsyncRateLimitErrorRetryHandler):
    async def prepare_for_next_attempt_async(self, *, state, request, response=None, error=None) -> None:  # type: ignore[override]
        started = time.perf_counter()
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )
        RATE_LIMIT_WAITS.labels(_method(request.url)).inc()
        RATE_LIMIT_SECONDS.inc(time.perf_counter() - started)


async def _refresh_gauges(rt: Runtime) -> None:
    from bot.models import ScheduledRun

    pool = rt.db.engine.pool
    async with rt.db.session() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(ScheduledRun)
            .where(ScheduledRun.finished_at.is_(None), ScheduledRun.period_key.not_like("%:%"))
        )
        # Read while this scrape holds its own connection, so an idle replica shows 1.
        DB_POOL_IN_USE.set(pool.checkedout() if hasattr(pool, "checkedout") else 0)
    DELIVERIES_PENDING.set(pending or 0)


async def metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: 404 when no CLIENTBOT_METRICS_TOKEN is set; 401 without that exact bearer token."""
    from bot.app import RUNTIME_KEY

    rt = request.app[RUNTIME_KEY]
    token = rt.settings.metrics_token
    if not token:
        return web.json_response({"error": "not_found"}, status=404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return web.json_response(
            {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        await _refresh_gauges(rt)
    except Exception:  # the database being down must not hide the other metrics
        logging.getLogger(__name__).warning("metrics: could not read the database", exc_info=True)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


class AccessLog(AccessLogger):
    """aiohttp's access log less the lines clientbot.request already writes: a Slack request answered 200
    is logged once, there, with its command, user and duration (two lines a request cost ~1 % of a
    `/client show`'s CPU under load). Refused Slack requests, /api and the probes stay here."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status == 200 and request.path == "/slack/events":
            return
        super().log(request, response, time)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the request's id, user, command and
    duration when the line was written while handling one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = REQUEST.get()
        for key in ("request_id", "user", "command", "duration_ms"):
            value = getattr(record, key, None) or (request or {}).get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(log_format: str) -> None:
    # Neither format shows a record's thread or process: not looking them up for every record (the logging
    # HOWTO's "Optimization") saves ~8 µs a line; every Slack request writes one.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    if log_format == "json":
        formatter = JsonFormatter()
        formatter.converter = time.gmtime  # type: ignore[assignment]
        handler.setFormatter(formatter)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
