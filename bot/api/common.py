"""Shared request plumbing of the REST API: bearer-token authentication, one unit of work per call,
JSON bodies and errors `{"error": {"code", "message", "fields"}}`, never a 500 for bad input."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.errors import DomainError, ValidationFailed
from bot.models import Client, Job, User
from bot.runtime import Runtime
from bot.services import api_tokens, audit, clients

log = logging.getLogger("clientbot.api")
RUNTIME = web.AppKey("api_runtime", Runtime)
Handler = Callable[["ApiRequest"], Awaitable[web.Response]]
MAX_BODY = 1024 * 1024


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    """The contract's error body; `fields` is always there (empty when no field is to blame)."""
    body = {"error": {"code": code, "message": message, "fields": dict(fields or {})}}
    return web.json_response(body, status=status)


NUL_MESSAGE = "Must not contain NUL (\\u0000) characters."


def storable_year(year: int) -> bool:
    """Years 2 to 9998: a date there survives any UTC offset and still fits a database date."""
    return 1 < year < 9999


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in parsed JSON with its field path (`contacts.0.email`), keys included; iterative, so
    any nesting json.loads accepts is fine. A key's own path stands for the key."""
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            yield where or "body", item
        elif isinstance(item, dict):
            for key, child in item.items():
                name = (f"{where}.{key}" if where else str(key)).replace("\x00", "\\u0000")
                yield name, str(key)
                pending.append((name, child))
        elif isinstance(item, list):
            pending.extend(
                (f"{where}.{index}" if where else str(index), child) for index, child in enumerate(item)
            )


def nul_fields(value: Any) -> dict[str, str]:
    """Where `value` (parsed JSON, or a string) holds a NUL character, by field path.

    PostgreSQL cannot store U+0000 in text or JSON, so every string that reaches the API is checked here
    (path and query parameters in `endpoint`, JSON bodies in `ApiRequest.body`) instead of in each model."""
    return {where: NUL_MESSAGE for where, text in strings(value) if "\x00" in text}


def extreme_dates(value: Any) -> dict[str, str]:
    """Fields holding a date too near year 1 or 9999 to be stored in UTC."""
    found = {}
    for where, text in strings(value):
        try:
            moment = (
                datetime.fromisoformat(text.strip().replace("Z", "+00:00")) if 10 <= len(text) <= 40 else None
            )
        except ValueError:
            continue
        if moment is not None and not storable_year(moment.year):
            found[where] = "This date is out of range."
    return found


def check_no_nul(pairs: Iterable[tuple[str, Any]]) -> None:
    """A JSON body's items, or path and query parameters: 422 naming each field that holds a NUL."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.update(nul_fields({name: value}))
    if fields:
        raise ValidationFailed(fields, "Text must not contain NUL characters.")


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ok(data: Any, status: int = 200, model: type[BaseModel] | None = None) -> web.Response:
    """A JSON response; with `model`, the body is checked against (and shaped by) the response model."""
    if model is not None:
        data = model.model_validate(data).model_dump(mode="json")
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_json_default))


class ApiRequest:
    """One API call: its session, acting user and parsed JSON body."""

    def __init__(self, request: web.Request, session: AsyncSession, actor: User) -> None:
        self.request, self.session, self.actor = request, session, actor
        self.rt: Runtime = request.app[RUNTIME]
        self.parsed: dict[str, Any] | None = None

    async def body(self) -> dict[str, Any]:
        if self.request.content_length and self.request.content_length > MAX_BODY:
            raise ApiError(413, "too_large", "The request body is larger than 1 MB.")
        try:
            data = json.loads(await self.request.read() or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(400, "bad_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "The body must be a JSON object.")
        check_no_nul(data.items())
        self.parsed = data
        return data

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    async def client(self) -> Client:
        return await clients.find_exact(self.session, self.param("client_id"), viewer=self.actor)


def out_of_range(error: BaseException) -> bool:
    """A value the database or a column type cannot hold (a date that overflows when turned to UTC, data
    PostgreSQL refuses): bad input, whichever model let it through, so 422 and never 500."""
    if isinstance(error, StatementError) and not isinstance(error, DBAPIError):
        return isinstance(error.orig, OverflowError)
    return isinstance(error, OverflowError | DataError)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def endpoint(func: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, open one unit of work, run `func`, and turn every known failure into a JSON error."""

    async def handle(request: web.Request) -> web.Response:
        rt: Runtime = request.app[RUNTIME]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        call: ApiRequest | None = None
        try:
            async with rt.db.session() as session:
                actor = await api_tokens.authenticate(session, token.strip()) if scheme == "Bearer" else None
                if actor is None:
                    raise Unauthorized("A valid bearer token is required (clientbot api-token create).")
                check_no_nul([*request.match_info.items(), *request.query.items()])
                call = ApiRequest(request, session, actor)
                return await func(call)
        except (OverflowError, StatementError) as error:
            if not out_of_range(error):
                raise
            fields = extreme_dates(call.parsed) if call is not None else {}
            return error_response(
                422,
                "validation_failed",
                "A value is out of range.",
                fields or {"body": "A value is out of range."},
            )
        except ValidationFailed as error:
            return error_response(422, error.code, str(error), error.fields)
        except DomainError as error:
            return error_response(error.http_status, error.code, str(error))
        except ApiError as error:
            return error_response(error.status, error.code, str(error))

    handle.__name__ = func.__name__
    return handle


def client_json(client: Client, *, details: bool = False) -> dict[str, Any]:
    data = audit.snapshot(client, exclude=("name_normalized", "website_domain"))
    if details:
        data["contacts"] = [
            audit.snapshot(c, exclude=("email_domain", "client_id")) for c in client.contacts if c.is_active
        ]
    return data


def job_json(job: Job) -> dict[str, Any]:
    return audit.snapshot(job)


def _today(req: ApiRequest) -> date:
    return clock.today(req.rt.settings.tz)
