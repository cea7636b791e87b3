"""REST API: onboarding import of clients with their contacts (the CSV of `clientbot import clients`)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot import api_models
from bot.api.common import ApiError, ApiRequest, endpoint, ok
from bot.models import Role
from bot.roles import require
from bot.services import client_imports

_TRUE = {"1", "true", "yes", "on"}


async def _read_upload(request: web.Request) -> tuple[bytes, dict[str, str]]:
    """The `file` part (at most UPLOAD_MAX_BYTES, read no further) and the form's short text fields."""
    limit = client_imports.UPLOAD_MAX_BYTES
    content: bytes | None = None
    form: dict[str, str] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if getattr(part, "filename", None) is not None or part.name == "file":
            if content is not None:
                raise ApiError(400, "bad_multipart", "Send one file.")
            content = await part.read_chunk(limit + 1)
            while len(content) <= limit and (chunk := await part.read_chunk()):
                content += chunk
            if len(content) > limit:
                raise ApiError(413, "too_large", f"The file is larger than {limit // (1024 * 1024)} MB.")
        elif part.name:
            form[part.name] = (await part.read_chunk(100)).decode("utf-8", "replace").strip()
    if content is None:
        raise ApiError(400, "bad_multipart", "Send the CSV as a multipart/form-data part named file.")
    return content, form


def _flag(req: ApiRequest, form: dict[str, str], name: str) -> bool:
    return (form.get(name) or req.request.query.get(name, "")).strip().lower() in _TRUE


@endpoint
async def import_clients(req: ApiRequest) -> web.Response:
    """multipart/form-data: `file` (CSV, at most 10 MB), `dry_run`, `update` (form fields or query)."""
    require(req.actor, Role.MANAGER, "import clients")  # before reading a byte of the upload
    if not req.request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "Send the CSV as multipart/form-data (part `file`).")
    try:
        data, form = await _read_upload(req.request)
    except (HttpProcessingError, ValueError, LookupError):
        raise ApiError(400, "bad_multipart", "The multipart/form-data body is malformed.") from None
    await req.session.commit()  # the import runs its own transactions
    report = await client_imports.import_clients(
        req.rt.db,
        data=data,
        actor_id=req.actor.id,
        dry_run=_flag(req, form, "dry_run"),
        update=_flag(req, form, "update"),
        tz=req.rt.settings.tz,
        max_bytes=client_imports.UPLOAD_MAX_BYTES,
    )
    return ok(report.as_dict(), model=api_models.ClientImportOut)
