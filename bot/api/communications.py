"""REST API: communications and their attachments."""

from __future__ import annotations

import uuid
from datetime import date

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field, field_validator

from bot import api_models
from bot.api.common import ApiError, ApiRequest, check_no_nul, endpoint, ok, storable_year
from bot.errors import NotFound, ValidationFailed
from bot.services import audit, communications
from bot.services.inputs import parse_input
from bot.storage import ATTACHMENT_MAX_BYTES


class HistoryQuery(BaseModel):
    type: str | None = Field(default=None, max_length=100, description="comma-separated: meeting,call,...")
    important: bool = False
    followup: bool = False
    job: str | None = Field(default=None, max_length=50)
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    q: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("date_from", "date_to")
    @classmethod
    def _storable(cls, value: date | None) -> date | None:
        if value is not None and not storable_year(value.year):
            raise ValueError("This date is out of range.")
        return value


@endpoint
async def log_communication(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = communications.parse_communication(await req.body())
    record = await communications.log(
        req.session, actor=req.actor, client_id=client.id, data=data, source="api"
    )
    return ok(audit.snapshot(record), 201, model=api_models.CommunicationOut)


async def _read_files(request: web.Request) -> list[communications.IncomingFile]:
    files = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not getattr(part, "filename", None):
            continue
        check_no_nul([("file", part.filename)])
        content = await part.read_chunk(ATTACHMENT_MAX_BYTES + 1)
        while len(content) <= ATTACHMENT_MAX_BYTES and (chunk := await part.read_chunk()):
            content += chunk
        if len(content) > ATTACHMENT_MAX_BYTES:
            raise ApiError(413, "too_large", f"{part.filename} is larger than 10 MB.")
        files.append(communications.IncomingFile(name=part.filename, content=content))
        if len(files) > communications.MAX_ATTACHMENTS:
            raise ValidationFailed({"attachments": "At most 10 files."})
    return files


@endpoint
async def upload_attachments(req: ApiRequest) -> web.Response:
    """multipart/form-data, one or more `file` parts, each at most 10 MB, judged by content."""
    client = await req.client()
    try:
        comm_id = uuid.UUID(req.param("comm_id"))
    except ValueError:
        raise NotFound("No such communication.") from None
    if not req.request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "Send the files as multipart/form-data.")
    try:
        files = await _read_files(req.request)
    except (HttpProcessingError, ValueError, LookupError):
        raise ApiError(400, "bad_multipart", "The multipart/form-data body is malformed.") from None
    record, owner = await communications.get(req.session, actor=req.actor, communication_id=comm_id)
    if owner.id != client.id:
        raise NotFound("No such communication for this client.")
    record = await communications.add_attachments(
        req.session, req.rt.storage, actor=req.actor, communication_id=comm_id, files=files
    )
    return ok({"id": record.id, "attachments": record.attachments}, 201, model=api_models.AttachmentsOut)


@endpoint
async def list_communications(req: ApiRequest) -> web.Response:
    client = await req.client()
    query = parse_input(HistoryQuery, dict(req.request.query))
    types = []
    for name in (query.type or "").split(","):
        if name.strip():
            kind = communications.TYPE_ALIASES.get(name.strip().lower())
            if kind is None:
                raise ValidationFailed({"type": f"Unknown type {name!r}."})
            types.append(kind)
    filters = communications.HistoryFilter(
        types=types,
        important=query.important,
        follow_up=query.followup,
        job_reference=query.job,
        date_from=query.date_from,
        date_to=query.date_to,
        text=query.q,
    )
    page = await communications.history(
        req.session,
        actor=req.actor,
        client=client,
        filters=filters,
        page=query.page,
        per_page=query.limit,
        tz=req.rt.settings.tz,
    )
    return ok(
        {
            "communications": [
                audit.snapshot(e.record) | {"job_reference": e.job_reference} for e in page.entries
            ],
            "pagination": {"page": page.page, "limit": query.limit, "total": page.total, "pages": page.pages},
        },
        model=api_models.CommunicationListOut,
    )
