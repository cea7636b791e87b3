"""REST API: personal-data requests (GDPR export and erasure), HR Admin tokens only, audited."""

from __future__ import annotations

from aiohttp import web

from bot import api_models
from bot.api.common import ApiRequest, endpoint, ok
from bot.models import Role
from bot.roles import require
from bot.services import privacy
from bot.services.inputs import parse_input


async def _checked(req: ApiRequest, model: type[privacy.ExportIn]) -> privacy.ExportIn:
    """The role first (a lower token learns nothing about the body), then the body: only the model's
    fields, so nothing else a caller sends reaches the database."""
    require(req.actor, Role.ADMIN, "handle personal-data requests")
    return parse_input(model, await req.body())


@endpoint
async def privacy_export(req: ApiRequest) -> web.Response:
    body = await _checked(req, privacy.ExportIn)
    data = await privacy.export(req.session, actor=req.actor, email=body.email, by=req.actor.display_name)
    return ok(data, model=api_models.PrivacyExportOut)


@endpoint
async def privacy_erase(req: ApiRequest) -> web.Response:
    body = await _checked(req, privacy.EraseIn)
    assert isinstance(body, privacy.EraseIn)
    data = await privacy.erase(
        req.session, actor=req.actor, email=body.email, reason=body.reason, by=req.actor.display_name
    )
    return ok(data, model=api_models.PrivacyEraseOut)
