"""Jobs in Slack: `/client job new`, `/client jobs CODE`, `/client link|unlink`, pickers and drill-down."""

from __future__ import annotations

import re
import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError, ValidationFailed
from bot.models import Client, Role
from bot.roles import has_role, require
from bot.services import clients, jobs
from bot.services.analytics import client_job_analytics
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    acting,
    domain_error_reply,
    from_modal,
    notify_user,
    open_modal_first,
    reply,
    runtime,
    show_modal_first,
    split_args,
    update_view,
)
from views import jobs as job_views
from views.common import view_state
from views.jobs import JobFormState, LinkFormState

OPTION_LIMIT = 100


@subcommand("job")
async def command_job(request: CommandRequest) -> None:
    words = split_args(request.args)
    if not words or words[0].lower() != "new":
        raise ValidationFailed({"text": "Usage: `/client job new [CODE]`"})

    async def build() -> dict[str, Any]:
        async with acting(request.context, request.client) as (session, actor):
            require(actor, Role.MANAGER, "create jobs")
            client = (
                await clients.find(session, " ".join(words[1:]), viewer=actor) if len(words) > 1 else None
            )
        return job_views.job_form(state=JobFormState(response_url=request.response_url), client=client)

    await open_modal_first(
        request.client, request.trigger_id, context=request.context, title="New job", build=build
    )


async def submit_job_form(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    state = JobFormState.decode(view.get("private_metadata"))
    try:
        data = jobs.parse_job(job_views.read_job_form(view_state(view)))
    except ValidationFailed as error:
        await ack(response_action="errors", errors=job_views.job_form_errors(error.fields))
        return
    try:
        async with acting(context, client) as (session, actor):
            job = await jobs.create_job(session, actor=actor, data=data, tz=runtime(context).settings.tz)
            linked = await clients.get(session, job.client_id, viewer=actor) if job.client_id else None
    except ValidationFailed as error:
        await ack(response_action="errors", errors=job_views.job_form_errors(error.fields))
        return
    except DomainError as error:  # a taken reference is said under the reference, the rest under the title
        field = "reference" if isinstance(error, jobs.ReferenceTaken) else "title"
        await ack(response_action="errors", errors={field: str(error)[:150]})
        return
    await ack()
    await notify_user(client, context.user_id, job_views.job_created_message(job, linked), state.response_url)


async def _jobs_payload(session: Any, actor: Any, client_record: Client, page: int) -> tuple:
    result = await jobs.client_jobs(session, client_id=client_record.id, page=page)
    stats = await client_job_analytics(session, client_record.id)
    return result, stats, has_role(actor, Role.MANAGER)


@subcommand("jobs")
async def command_jobs(request: CommandRequest) -> None:
    async with acting(request.context, request.client) as (session, actor):
        record = await clients.find(session, request.args, viewer=actor)
        page, stats, can_link = await _jobs_payload(session, actor, record, 1)
        await request.reply(job_views.jobs_message(record, page, stats, can_link=can_link))


async def click_jobs_page(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    await ack()
    client_id, page_number = job_views.read_jobs_value(action["value"])
    async with acting(context, client) as (session, actor):
        record = await clients.get(session, client_id, viewer=actor)
        page, stats, can_link = await _jobs_payload(session, actor, record, page_number)
    if from_modal(body):
        view = body["view"]
        await update_view(  # closed or changed meanwhile: nothing to page
            client,
            job_views.jobs_modal(record, page, stats, can_link=can_link),
            view_id=view["id"],
            view_hash=view.get("hash"),
        )
    else:
        await reply(respond, job_views.jobs_message(record, page, stats, can_link=can_link), replace=True)


async def click_open_jobs(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Jobs" on a client card: the jobs list as a modal (pushed over the card when it is one)."""
    await ack()

    async def build() -> dict[str, Any]:
        async with acting(context, client) as (session, actor):
            record = await clients.get(session, uuid.UUID(action["value"]), viewer=actor)
            page, stats, can_link = await _jobs_payload(session, actor, record, 1)
        return job_views.jobs_modal(record, page, stats, can_link=can_link)

    await show_modal_first(client, body, context=context, title="Jobs", build=build)


async def click_candidates(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()

    async def build() -> dict[str, Any]:
        async with acting(context, client) as (session, actor):
            job = await jobs.get_job(session, uuid.UUID(action["value"]))
            rows = await jobs.job_candidates(session, job_id=job.id, viewer=actor)
        return job_views.candidates_modal(job, rows)

    await show_modal_first(client, body, context=context, title="Candidates", build=build)


@subcommand("link")
async def command_link(request: CommandRequest) -> None:
    words = split_args(request.args)
    move = "--move" in words
    words = [w for w in words if w != "--move"]
    if not words:
        raise ValidationFailed(
            {
                "text": "Usage: `/client link CODE JOB-REF [JOB-REF …]` (add `--move` to move "
                "jobs linked to another client)"
            }
        )
    if len(words) == 1:  # the link form: open it on the trigger first, then fill it

        async def build() -> dict[str, Any]:
            async with acting(request.context, request.client) as (session, actor):
                require(actor, Role.MANAGER, "link jobs")
                record = await clients.find(session, words[0], viewer=actor)
            return job_views.link_form(
                state=LinkFormState(client_id=record.id, response_url=request.response_url), client=record
            )

        await open_modal_first(
            request.client, request.trigger_id, context=request.context, title="Link jobs", build=build
        )
        return
    async with acting(request.context, request.client) as (session, actor):
        require(actor, Role.MANAGER, "link jobs")
        record = await clients.find(session, words[0], viewer=actor)
        result = await jobs.link_jobs(
            session, actor=actor, client_id=record.id, references=words[1:], move=move
        )
        await request.reply(job_views.link_result_message(record, result))


@subcommand("unlink")
async def command_unlink(request: CommandRequest) -> None:
    words = split_args(request.args)
    if len(words) != 2:
        raise ValidationFailed({"text": "Usage: `/client unlink CODE JOB-REF`"})
    async with acting(request.context, request.client) as (session, actor):
        record = await clients.find(session, words[0], viewer=actor)
        job = await jobs.unlink_job(session, actor=actor, client_id=record.id, reference=words[1])
    await request.reply(job_views.link_result_message(record, jobs.LinkResult(), unlinked=job.reference))


async def click_link_jobs(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()

    async def build() -> dict[str, Any]:
        async with acting(context, client) as (session, actor):
            require(actor, Role.MANAGER, "link jobs")
            record = await clients.get(session, uuid.UUID(action["value"]), viewer=actor)
        return job_views.link_form(state=LinkFormState(client_id=record.id), client=record)

    try:
        await show_modal_first(client, body, context=context, title="Link jobs", build=build)
    except DomainError as error:
        await notify_user(client, context.user_id, domain_error_reply(error))


async def submit_link_form(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    state = LinkFormState.decode(view["private_metadata"])
    references, move = job_views.read_link_form(view_state(view))
    try:
        async with acting(context, client) as (session, actor):
            record = await clients.get(session, state.client_id, viewer=actor)
            result = await jobs.link_jobs(
                session, actor=actor, client_id=record.id, references=references, move=move
            )
            if result.conflicts:
                # Nothing is moved silently: the user must tick "move" and submit again.
                await session.rollback()
                listed = ", ".join(f"{r} ({c})" for r, c in result.conflicts[:10])
                await ack(
                    response_action="errors",
                    errors={"move": f"Linked to another client: {listed}. Tick to move them."[:150]},
                )
                return
    except DomainError as error:
        await ack(response_action="errors", errors={"jobs": str(error)[:150]})
        return
    await ack()
    await notify_user(
        client, context.user_id, job_views.link_result_message(record, result), state.response_url
    )


async def load_client_options(
    ack: Any, payload: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Type-ahead for the client picker: the clients the user may pick, by name or code."""
    async with acting(context, client) as (session, actor):
        rows = await clients.picker_options(
            session, actor=actor, text=payload.get("value", ""), limit=OPTION_LIMIT
        )
        await ack(options=[job_views.client_option(c) for c in rows])


async def load_job_options(
    ack: Any, payload: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Type-ahead for the job picker: jobs by reference or title."""
    async with acting(context, client) as (session, actor):
        rows = await jobs.picker_options(
            session, actor=actor, text=payload.get("value", ""), limit=OPTION_LIMIT
        )
        await ack(options=[job_views.job_option(j) for j in rows])


def register(app: AsyncApp) -> None:
    app.view(job_views.JOB_FORM_CALLBACK)(submit_job_form)
    app.view(job_views.LINK_FORM_CALLBACK)(submit_link_form)
    app.action(re.compile(f"^{job_views.JOBS_PAGE_ACTION}_(prev|next)$"))(click_jobs_page)
    app.action(job_views.OPEN_JOBS_ACTION)(click_open_jobs)
    app.action(job_views.CANDIDATES_ACTION)(click_candidates)
    app.action(job_views.LINK_ACTION)(click_link_jobs)
    app.options(job_views.CLIENT_PICKER)(load_client_options)
    app.options(job_views.JOB_PICKER)(load_job_options)
