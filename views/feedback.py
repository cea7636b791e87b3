"""Feedback views: the quarterly feedback modal, feedback history, the performance report, reminders."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bot.models import Client, ClientFeedback
from bot.services.feedback import CRITERIA, PerformanceReport, PeriodSummary
from views.clients import FEEDBACK_ACTION
from views.common import (
    ModalState,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    escape,
    header,
    input_block,
    mention,
    message,
    modal,
    option,
    plain,
    read_value,
    section,
    text_input,
    truncate,
)

FORM_CALLBACK = "feedback_form"
OPEN_ACTION = FEEDBACK_ACTION
PDF_ACTION = "feedback_report_pdf"
FINALIZE_ACTION = "feedback_finalize"
SCALE = {1: "Poor", 2: "Fair", 3: "Good", 4: "Very good", 5: "Excellent"}


class FeedbackFormState(ModalState):
    client_id: uuid.UUID
    response_url: str | None = None


def stars(value: float | None) -> str:
    if value is None:
        return "—"
    full = round(value)
    return "★" * full + "☆" * (5 - full)


def _rating_options() -> list[dict[str, Any]]:
    return [option(f"{stars(n)}  {n} · {SCALE[n]}", str(n)) for n in range(5, 0, -1)]


def feedback_form(
    *,
    state: FeedbackFormState,
    client: Client,
    periods: list[str],
    period: str,
    draft: ClientFeedback | None = None,
) -> dict[str, Any]:
    period_options = [option(p, p) for p in periods]
    chosen = next((o for o in period_options if o["value"] == period), period_options[0])
    blocks: list[dict[str, Any]] = [
        context(
            f"Client: *{escape(client.name)}* `{client.client_code}`"
            + (" · you are editing your draft" if draft else "")
        ),
        input_block(
            "feedback_period",
            "Period",
            {
                "type": "static_select",
                "action_id": "value",
                "options": period_options,
                "initial_option": chosen,
            },
            optional=False,
        ),
    ]
    for column, label in CRITERIA.items():
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "value",
            "options": _rating_options(),
            "placeholder": plain("1 to 5 stars"),
        }
        if draft is not None and getattr(draft, column):
            element["initial_option"] = next(
                o for o in _rating_options() if o["value"] == str(getattr(draft, column))
            )
        blocks.append(input_block(column, label, element, optional=False))
    blocks.append(
        text_input(
            "written_feedback",
            "Written feedback",
            multiline=True,
            max_length=3000,
            initial=draft.written_feedback if draft else None,
        )
    )
    return modal(
        callback_id=FORM_CALLBACK,
        title="Client feedback",
        submit="Save",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def read_feedback_form(values: dict[str, Any]) -> dict[str, Any]:
    def value(block: str) -> Any:
        element = (values.get(block) or {}).get("value") or {}
        return (
            (element.get("selected_option") or {}).get("value")
            if "selected_option" in element
            else element.get("value")
        )

    return {key: value(key) for key in ("feedback_period", *CRITERIA, "written_feedback")}


def feedback_errors(fields: dict[str, str]) -> dict[str, str]:
    known = {"feedback_period", "written_feedback", *CRITERIA}
    return {(k if k in known else "feedback_period"): truncate(v, 150) for k, v in fields.items()}


def saved_message(row: ClientFeedback, client: Client, *, created: bool) -> dict[str, Any]:
    verb = "Saved" if created else "Updated"
    text = (
        f":white_check_mark: {verb} your {row.feedback_period} feedback for *{escape(client.name)}* "
        f"(overall {stars(row.overall_satisfaction)}). It stays a draft until an HR Manager finalises "
        f"the period: `/client report {client.client_code} {row.feedback_period}`."
    )
    return message(f"{verb} feedback for {client.name}", [section(text)])


def _averages_line(summary: PeriodSummary) -> str:
    return " · ".join(
        f"{label.split()[0]} {summary.averages[c]:.1f}"
        if summary.averages[c] is not None
        else f"{label.split()[0]} —"
        for c, label in CRITERIA.items()
    )


def history_message(client: Client, summaries: list[PeriodSummary]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        header(f"Feedback · {client.name}"),
        context(f"`{client.client_code}` · {len(summaries)} period(s)"),
    ]
    if not summaries:
        blocks.append(section(f"No feedback yet. Start with `/client feedback {client.client_code}`."))
    for summary in reversed(summaries[-40:]):
        flag = ":lock: finalised" if summary.finalized else ":pencil2: draft"
        blocks.append(
            section(
                f"*{summary.period}* {stars(summary.averages['overall_satisfaction'])} · {summary.responses} "
                f"response(s) · {flag}\n{_averages_line(summary)}"
            )
        )
    return message(f"Feedback of {client.name}", blocks[:50])


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _report_value(report: PerformanceReport) -> str:
    assert report.period is not None and report.compared is not None
    return json.dumps({"c": str(report.client.id), "p": report.period.period, "v": report.compared.period})


def read_report_value(value: str) -> tuple[uuid.UUID, str, str]:
    data = read_value(value)
    return uuid.UUID(data["c"]), data["p"], data["v"]


def report_message(report: PerformanceReport, *, can_finalize: bool) -> dict[str, Any]:
    current, other = report.period, report.compared
    assert current is not None and other is not None
    lines = []
    for column, label in CRITERIA.items():
        now, before, delta = current.averages[column], other.averages[column], report.deltas[column]
        trend = "" if delta is None else ":arrow_up:" if delta > 0 else ":arrow_down:" if delta < 0 else "="
        change = f"({delta:+.1f}) {trend}" if delta is not None else ""
        lines.append(f"*{label}* {_score(before)} → {_score(now)} {change}".rstrip())
    status = ":lock: finalised" if current.finalized else ":pencil2: draft"
    blocks: list[dict[str, Any]] = [
        header(f"Performance · {report.client.name}"),
        context(
            f"`{report.client.client_code}` · {current.period} vs {other.period} · {status}"
            f" · {current.responses} response(s)"
        ),
        section("\n".join(lines)),
    ]
    if current.written:
        quotes = "\n".join(f">{escape(truncate(t, 400))}" for t in current.written[:5])
        blocks.append(section(f"*Written feedback*\n{quotes}"))
    blocks.append(divider())
    buttons = [button("PDF report", PDF_ACTION, _report_value(report))]
    if can_finalize and not current.finalized:
        buttons.append(
            button(
                f"Finalize {current.period}",
                FINALIZE_ACTION,
                _report_value(report),
                style="danger",
                confirm=confirm_dialog(
                    f"Finalize {current.period}?",
                    f"The {current.period} feedback of {truncate(report.client.name, 150)} becomes "
                    "read-only for everyone. This can't be undone.",
                    "Finalize",
                ),
            )
        )
    blocks.append(actions(*buttons, block_id="feedback_report_actions"))
    return message(f"Performance report of {report.client.name}", blocks)


def finalized_message(client: Client, period: str, count: int) -> dict[str, Any]:
    text = (
        f":lock: Finalised {period} for *{escape(client.name)}* ({count} response(s)). It is read-only now."
    )
    return message(f"Finalised {period}", [section(text)])


def chart_comment(client: Client) -> str:
    """The `initial_comment` of the feedback chart, posted into the conversation (mrkdwn)."""
    return f"Client feedback of *{escape(client.name)}* by quarter."


def pdf_comment(client: Client, period: str, vs: str) -> str:
    return f"Performance report of *{escape(client.name)}*, {period} vs {vs}."


def reminder_message(period: str, clients: list[Client]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        section(
            f":spiral_calendar_pad: Quarter {period} has ended. "
            "These clients of yours have no feedback for it yet:"
        )
    ]
    for client in clients[:45]:
        blocks.append(
            section(
                f"*{escape(client.name)}* `{client.client_code}`",
                accessory=button("Give feedback", OPEN_ACTION, str(client.id)),
            )
        )
    if len(clients) > 45:
        blocks.append(context(f"…and {len(clients) - 45} more: use `/client feedback CODE`."))
    return message(f"Feedback due for {period}", blocks)


def reminder_summary(period: str, per_manager: dict[str, int]) -> dict[str, Any]:
    lines = "\n".join(
        f"• {mention(slack_id)}: {n} client(s)" for slack_id, n in list(per_manager.items())[:40]
    )
    total = sum(per_manager.values())
    return message(
        f"Feedback reminders for {period}",
        [section(f":bell: Sent {period} feedback reminders for {total} client(s):\n{lines}")],
    )
