"""Client feedback in Slack: the feedback modal, feedback history, the performance report with its
chart and PDF, and finalisation."""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot import clock, render
from bot.errors import DomainError, ValidationFailed
from bot.models import ClientFeedback, Role
from bot.roles import has_role, require
from bot.runtime import Runtime
from bot.services import clients, communications, feedback, metrics, periods
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    DmProgress,
    acting,
    domain_error_reply,
    notify_user,
    open_modal_first,
    reply,
    runtime,
    send_file_to_user,
    show_modal_first,
    split_args,
)
from views import feedback as feedback_views
from views.common import info_message, view_state
from views.dashboard import FEEDBACK_HISTORY_ACTION, failed_message, progress_message, sent_message
from views.feedback import FeedbackFormState

HISTORY_ACTION = FEEDBACK_HISTORY_ACTION
FORM_TITLE = "Client feedback"


def _today(rt: Runtime) -> Any:
    return clock.today(rt.settings.tz)


async def _form(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    *,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
    response_url: str | None = None,
) -> dict[str, Any]:
    rt = runtime(context)
    async with acting(context, client) as (session, actor):
        require(actor, Role.MANAGER, "submit client feedback")
        record = (
            await clients.get(session, client_id, viewer=actor)
            if client_id
            else await clients.find(session, reference or "", viewer=actor)
        )
        communications.require_view(actor, record)
        choices = periods.recent(_today(rt), 8)
        draft = await session.scalar(
            select(ClientFeedback).where(
                ClientFeedback.client_id == record.id,
                ClientFeedback.feedback_period == choices[0],
                ClientFeedback.submitted_by == actor.id,
                ClientFeedback.is_finalized.is_(False),
            )
        )
    return feedback_views.feedback_form(
        state=FeedbackFormState(client_id=record.id, response_url=response_url),
        client=record,
        periods=choices,
        period=choices[0],
        draft=draft,
    )


@subcommand("feedback")
async def command_feedback(request: CommandRequest) -> None:
    async def build() -> dict[str, Any]:
        return await _form(
            request.context, request.client, reference=request.args, response_url=request.response_url
        )

    await open_modal_first(
        request.client, request.trigger_id, context=request.context, title=FORM_TITLE, build=build
    )


async def click_feedback(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()

    async def build() -> dict[str, Any]:
        return await _form(context, client, client_id=uuid.UUID(action["value"]))

    try:
        await show_modal_first(client, body, context=context, title=FORM_TITLE, build=build)
    except DomainError as error:
        await notify_user(client, context.user_id, domain_error_reply(error), body.get("response_url"))


async def submit_feedback(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    state = FeedbackFormState.decode(view.get("private_metadata"))
    try:
        data = feedback.parse_feedback(feedback_views.read_feedback_form(view_state(view)))
        async with acting(context, client) as (session, actor):
            row, created = await feedback.submit(
                session, actor=actor, client_id=state.client_id, data=data, today=_today(runtime(context))
            )
            record = await clients.get(session, state.client_id, viewer=actor)
    except ValidationFailed as error:
        await ack(response_action="errors", errors=feedback_views.feedback_errors(error.fields))
        return
    except DomainError as error:
        await ack(response_action="errors", errors={"feedback_period": str(error)[:150]})
        return
    await ack()
    await notify_user(
        client,
        context.user_id,
        feedback_views.saved_message(row, record, created=created),
        state.response_url,
    )


async def _history(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    *,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    async with acting(context, client) as (session, actor):
        record = (
            await clients.get(session, client_id, viewer=actor)
            if client_id
            else await clients.find(session, reference or "", viewer=actor)
        )
        summaries = await feedback.by_period(session, actor=actor, client_id=record.id)
    return feedback_views.history_message(record, summaries)


@subcommand("feedback-history")
async def command_feedback_history(request: CommandRequest) -> None:
    await request.reply(await _history(request.context, request.client, reference=request.args))


async def click_history(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    payload = await _history(context, client, client_id=uuid.UUID(action["value"]))
    await notify_user(client, context.user_id, payload, body.get("response_url"))


def _report_args(words: list[str]) -> tuple[str, str | None, str | None]:
    """`CODE [PERIOD] [vs PERIOD]` (the code may be a quoted name; `vs` in any case)."""
    usage = ValidationFailed({"text": "Usage: `/client report CODE [PERIOD] [vs PERIOD]`"})
    if not words:
        raise usage
    code, rest = words[0], list(words[1:])
    period = rest.pop(0) if rest and rest[0].lower() != "vs" else None
    vs = None
    if rest:
        if len(rest) != 2 or rest[0].lower() != "vs":
            raise usage
        vs = rest[1]
    return code, period, vs


@subcommand("report")
async def command_report(request: CommandRequest) -> None:
    reference, period, vs = _report_args(split_args(request.args))
    await request.progress(progress_message("Building the performance report…"))
    rt = runtime(request.context)
    async with acting(request.context, request.client) as (session, actor):
        record = await clients.find(session, reference, viewer=actor)
        report = await feedback.report(
            session, actor=actor, client_id=record.id, period=period, vs=vs, today=_today(rt)
        )
        can_finalize = has_role(actor, Role.MANAGER)
    chart = await render.report("performance_chart", report)
    filename = f"{record.client_code}-feedback-{report.period.period if report.period else 'trend'}.png"
    comment = feedback_views.chart_comment(record)
    # The chart is as private as the text reply: into the requester's DM, never the channel it was typed in.
    await send_file_to_user(
        request.client, request.user_id, content=chart, filename=filename, comment=comment
    )
    await request.reply(feedback_views.report_message(report, can_finalize=can_finalize))


async def click_pdf(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The report's PDF button: the report message stays as it is; progress and the PDF go to the DM."""
    await ack()
    client_id, period, vs = feedback_views.read_report_value(action["value"])
    rt = runtime(context)
    try:
        async with acting(context, client) as (session, actor):
            report = await feedback.report(
                session, actor=actor, client_id=client_id, period=period, vs=vs, today=_today(rt)
            )
    except DomainError as error:  # a new ephemeral message under the report, which stays as it is
        await reply(respond, domain_error_reply(error))
        return
    await reply(
        respond,
        info_message(f"Building the {period} PDF in your DMs: it, or what went wrong, will be there."),
    )
    progress = DmProgress(client, context.user_id)
    await progress.show(progress_message(f"Building the {period} PDF of {report.client.name}…"))
    try:
        pdf = await metrics.timed_build(
            rt.db, render.build_performance_pdf, report, rt.storage, kind="performance", client_id=client_id
        )
        await send_file_to_user(
            client,
            context.user_id,
            content=pdf,
            filename=f"{report.client.client_code}-performance-{period}.pdf",
            comment=feedback_views.pdf_comment(report.client, period, vs),
        )
    except Exception:  # the progress message never stays up after a failure; the error handler reports it
        await progress.show(failed_message(f"The {period} PDF could not be built."))
        raise
    await progress.show(sent_message(f"The {period} report of {report.client.name} is in your DMs."))


async def click_finalize(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    client_id, period, _vs = feedback_views.read_report_value(action["value"])
    async with acting(context, client) as (session, actor):
        count = await feedback.finalize(session, actor=actor, client_id=client_id, period=period)
        record = await clients.get(session, client_id, viewer=actor)
    await reply(respond, feedback_views.finalized_message(record, period, count))


def register(app: AsyncApp) -> None:
    app.view(feedback_views.FORM_CALLBACK)(submit_feedback)
    app.action(feedback_views.OPEN_ACTION)(click_feedback)
    app.action(HISTORY_ACTION)(click_history)
    app.action(feedback_views.PDF_ACTION)(click_pdf)
    app.action(feedback_views.FINALIZE_ACTION)(click_finalize)
