"""`/client import`: the upload form, the dry-run preview, and the result (modal and DM)."""

from __future__ import annotations

from typing import Any

from bot.services.client_imports import ClientImportReport, describe_problems, line_span
from views.common import (
    ModalState,
    context,
    escape,
    input_block,
    modal,
    option,
    section,
    truncate,
)
from views.common import message as slack_message

FORM_CALLBACK = "client_import_form"
CONFIRM_CALLBACK = "client_import_confirm"
TITLE = "Import clients"
SHOWN_LINES = 10  # refused lines listed in the preview; the DM's CSV has them all
SHOWN_CLIENTS = 15


class ImportState(ModalState):
    """The preview carries the Slack file's id (never its content) and the options."""

    file_id: str = ""
    update: bool = False


def import_form() -> dict[str, Any]:
    blocks = [
        input_block(
            "file",
            "CSV file",
            {"type": "file_input", "action_id": "value", "filetypes": ["csv", "txt"], "max_files": 1},
            optional=False,
            hint="One row per contact. HubSpot and Salesforce exports are read as they are; "
            "UTF-8, UTF-16 or Windows-1252, comma or semicolon. At most 10 MB.",
        ),
        input_block(
            "update",
            "Clients already in clientbot",
            {
                "type": "checkboxes",
                "action_id": "value",
                "options": [option("Update them (contacts merged by email, none removed)", "update")],
            },
        ),
        context("Next you see what would be created, updated, skipped and refused; nothing is written yet."),
    ]
    return modal(callback_id=FORM_CALLBACK, title=TITLE, submit="Preview", blocks=blocks)


def read_form(values: dict[str, Any]) -> tuple[str | None, bool]:
    files = ((values.get("file") or {}).get("value") or {}).get("files") or []
    update = bool(((values.get("update") or {}).get("value") or {}).get("selected_options"))
    return (files[0]["id"] if files else None), update


def working_view(external_id: str) -> dict[str, Any]:
    return modal(
        callback_id="client_import_working",
        title=TITLE,
        close="Back",
        blocks=[section(":hourglass_flowing_sand: Reading the file and checking every row…")],
        external_id=external_id,
    )


def _counts_line(report: ClientImportReport) -> str:
    c = report.counts
    verb = "would be " if report.dry_run else ""
    return (
        f"*{report.rows}* rows, *{len(report.clients)}* clients: *{c['created']}* {verb}created, "
        f"*{c['updated']}* {verb}updated, *{c['duplicate']}* duplicate(s) skipped, *{c['refused']}* refused "
        f"({len(report.refused_lines)} line(s))."
    )


def _report_blocks(report: ClientImportReport) -> list[dict[str, Any]]:
    blocks = [section(_counts_line(report))]
    shown = [o for o in report.clients if o.action != "refused"][:SHOWN_CLIENTS]
    if shown:
        lines = [
            f"• {o.action} {'`' + o.client_code + '` ' if o.client_code else ''}{escape(o.name)} "
            f"({line_span(o.lines)}){' — ' + escape(o.detail) if o.detail else ''}"
            for o in shown
        ]
        more = len([o for o in report.clients if o.action != "refused"]) - len(shown)
        if more > 0:
            lines.append(f"… and {more} more")
        blocks.append(section(truncate("\n".join(lines), 3000)))
    if report.refused_lines:
        refused = [
            f"• line {f.line}: {escape(describe_problems(f))}" for f in report.refused_lines[:SHOWN_LINES]
        ]
        if len(report.refused_lines) > SHOWN_LINES:
            refused.append(f"… and {len(report.refused_lines) - SHOWN_LINES} more")
        blocks.append(section(truncate("*Refused lines*\n" + "\n".join(refused), 3000)))
    if report.ignored_columns:
        ignored = ", ".join(escape(c) for c in report.ignored_columns[:20])
        blocks.append(context(truncate(f"Columns not read: {ignored}", 2000)))
    return blocks


def preview_view(report: ClientImportReport, state: ImportState, external_id: str = "") -> dict[str, Any]:
    """The dry run; *Import* runs the same file for real (when there is something to write)."""
    counts = report.counts
    writes = counts["created"] + counts["updated"]
    blocks = _report_blocks(report)
    blocks.append(
        context(
            "Import writes the clients above; each client is all-or-nothing, refused lines are skipped "
            "and sent to you by DM."
            if writes
            else "Nothing to import from this file."
        )
    )
    return modal(
        callback_id=CONFIRM_CALLBACK,
        title=TITLE,
        submit="Import" if writes else None,
        close="Back",
        blocks=blocks,
        private_metadata=state.encode() if writes else "",
        external_id=external_id,
    )


def problem_view(text: str, external_id: str = "") -> dict[str, Any]:
    return modal(
        callback_id="client_import_problem",
        title=TITLE,
        close="Back",
        blocks=[section(f":warning: {escape(text)}")],
        external_id=external_id,
    )


def running_view() -> dict[str, Any]:
    return modal(
        callback_id="client_import_running",
        title=TITLE,
        close="Close",
        blocks=[
            section(":hourglass_flowing_sand: Importing… You can close this window: the result comes by DM.")
        ],
    )


def done_view(report: ClientImportReport) -> dict[str, Any]:
    return modal(
        callback_id="client_import_done",
        title=TITLE,
        close="Done",
        blocks=[*_report_blocks(report), context("The result and the refused lines are in your DMs too.")],
    )


def result_message(report: ClientImportReport, file_name: str) -> dict[str, Any]:
    c = report.counts
    text = (
        f"Import of {file_name}: {c['created']} created, {c['updated']} updated, "
        f"{c['duplicate']} duplicate(s) skipped, {len(report.refused_lines)} line(s) refused."
    )
    blocks = [section(f":inbox_tray: Import of *{escape(file_name)}*"), *_report_blocks(report)]
    return slack_message(text, blocks)


def problem_message(text: str) -> dict[str, Any]:
    return slack_message(text, [section(f":warning: Client import: {escape(text)}")])
