"""The bulk-operation modal: choose clients and an operation, preview (a dry run), confirm, results."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import ValidationFailed
from bot.models import Role
from bot.services.bulk import BulkIn, BulkResult, required_role
from views.common import (
    actions,
    button,
    client_label,
    confirm_dialog,
    context,
    escape,
    input_block,
    modal,
    option,
    plain,
    section,
    text_input,
    truncate,
)
from views.common import (
    message as slack_message,
)
from views.jobs import CLIENT_PICKER

FORM_CALLBACK = "bulk_form"
CONFIRM_CALLBACK = "bulk_confirm"
OPERATION_ACTION = "bulk_operation"  # the operation select: dispatches, to show only its settings
RUN_ACTION = "bulk_run"  # the red button of an irreversible preview (archive, deactivate)
OPERATIONS = {
    "change_status": "Change status",
    "reassign_account_manager": "Reassign account manager",
    "link_jobs": "Link jobs",
    "archive": "Archive (HR Admin)",
}
STATUSES = ("active", "on-hold", "inactive", "archived")


MAX_MODAL_CLIENTS = 100  # picked or matched by the filter; their codes travel in the preview's metadata
TEXT_MAX = 500  # reason and job references, as typed
PARAMETERS_MAX = 1000  # the parameters as JSON in private_metadata (escapes included)
METADATA_MAX = 3000


def bulk_form(operation: str | None = None) -> dict[str, Any]:
    """The form: which clients, the operation, and only that operation's settings (choosing another
    operation dispatches an action that puts its settings in place; what was typed is kept by Slack)."""
    chooser: dict[str, Any] = {
        "type": "static_select",
        "action_id": OPERATION_ACTION,
        "placeholder": plain("Choose what to do"),
        "options": [option(label, key) for key, label in OPERATIONS.items()],
    }
    if operation in OPERATIONS:
        chooser["initial_option"] = option(OPERATIONS[operation], operation)
    blocks = [
        input_block(
            "clients",
            "Clients",
            {
                "type": "multi_external_select",
                "action_id": CLIENT_PICKER,
                "min_query_length": 1,
                "max_selected_items": MAX_MODAL_CLIENTS,
                "placeholder": plain("Type client names or codes"),
            },
            hint="Or leave this empty and choose the clients by a filter below.",
        ),
        input_block(
            "filter_status",
            "Or: every client with status",
            {"type": "static_select", "action_id": "value", "options": [option(s, s) for s in STATUSES]},
        ),
        text_input("filter_industry", "Or: every client in industry", max_length=100, placeholder="IT"),
        input_block(
            "filter_manager",
            "Or: every client of account manager",
            {"type": "users_select", "action_id": "value"},
        ),
        {**input_block("operation", "Operation", chooser, optional=False), "dispatch_action": True},
        *_parameter_blocks(operation),
        context("Next you see what would change for each client; nothing is written until you confirm."),
    ]
    return modal(callback_id=FORM_CALLBACK, title="Bulk operation", submit="Preview", blocks=blocks)


def _parameter_blocks(operation: str | None) -> list[dict[str, Any]]:
    """The settings of one operation (none until one is chosen)."""
    statuses = {"type": "static_select", "action_id": "value", "options": [option(s, s) for s in STATUSES]}
    reason = text_input("reason", "Reason", max_length=TEXT_MAX, hint="Required to deactivate or archive.")
    if operation == "change_status":
        return [input_block("status", "New status", statuses, optional=False), reason]
    if operation == "reassign_account_manager":
        users = {"type": "users_select", "action_id": "value"}
        return [input_block("manager", "New account manager", users, optional=False)]
    if operation == "link_jobs":
        return [
            text_input(
                "jobs",
                "Job references",
                placeholder="JOB-2026-0001, JOB-2026-0002",
                max_length=TEXT_MAX,
                optional=False,
            ),
            input_block(
                "move",
                "Jobs linked to another client",
                {"type": "checkboxes", "action_id": "value", "options": [option("Move them", "move")]},
            ),
        ]
    if operation == "archive":
        return [text_input("reason", "Reason", max_length=TEXT_MAX, optional=False)]
    return [context("Choose an operation to see its settings.")]


def read_bulk_form(values: dict[str, Any]) -> dict[str, Any]:
    """The form as a bulk request (`client_ids` or `filter`, `operation`, typed `parameters`)."""

    def element(block: str, action: str = "value") -> dict[str, Any]:
        return (values.get(block) or {}).get(action) or {}

    def selected(block: str) -> str | None:
        return (element(block).get("selected_option") or {}).get("value")

    operation = (element("operation", OPERATION_ACTION).get("selected_option") or {}).get("value")
    reason = element("reason").get("value") or None
    parameters: dict[str, Any] = {}
    if operation == "change_status":
        parameters = {"status": selected("status"), "reason": reason}
    elif operation == "archive":
        parameters = {"reason": reason}
    elif operation == "reassign_account_manager":
        parameters = {"account_manager_id": element("manager").get("selected_user")}
    elif operation == "link_jobs":
        raw = element("jobs").get("value") or ""
        parameters = {
            "job_references": [r for r in raw.replace(",", " ").split() if r],
            "move": bool(element("move").get("selected_options")),
        }
    request: dict[str, Any] = {"operation": operation, "parameters": parameters}
    picked = [o["value"] for o in element("clients", CLIENT_PICKER).get("selected_options") or []]
    found_by = {
        "status": selected("filter_status"),
        "industry": (element("filter_industry").get("value") or "").strip() or None,
        "account_manager_id": element("filter_manager").get("selected_user"),
    }
    if picked:
        request["client_ids"] = picked
    if any(found_by.values()):
        request["filter"] = {k: v for k, v in found_by.items() if v}
    return request


def check_fits(data: BulkIn) -> None:
    """The preview carries the request in its private_metadata (3000 characters at most): refuse, field by
    field, what cannot fit rather than cut it."""
    if data.client_ids is not None and len(set(data.client_ids)) > MAX_MODAL_CLIENTS:
        raise ValidationFailed({"client_ids": f"Pick at most {MAX_MODAL_CLIENTS} clients."})
    size = len(json.dumps(data.parameters.model_dump(mode="json"), ensure_ascii=False))
    if size > PARAMETERS_MAX:
        field = "parameters.job_references" if data.operation == "link_jobs" else "parameters.reason"
        raise ValidationFailed({field: "Too long for one bulk change: shorten it (or use the API)."})


FIELDS = {
    "client_ids": "clients",
    "filter.status": "filter_status",
    "filter.industry": "filter_industry",
    "filter.account_manager_id": "filter_manager",
    "filter": "filter_status",
    "operation": "operation",
    "parameters.status": "status",
    "parameters.account_manager_id": "manager",
    "parameters.job_references": "jobs",
    "parameters.move": "move",
    "parameters.reason": "reason",
}


def bulk_errors(fields: dict[str, str]) -> dict[str, str]:
    """Field paths (`parameters.job_references.0`) to the form's blocks, one message per block."""
    errors: dict[str, str] = {}
    for key, message in fields.items():
        block = next((b for k, b in FIELDS.items() if key == k or key.startswith(k + ".")), "operation")
        if block == "clients" and "either" in message:
            message = "Pick clients, or leave this empty and set a filter below (not both)."
        errors.setdefault(block, truncate(message, 150))
    return errors


def _lines(results: list[BulkResult]) -> list[str]:
    return [
        f":white_check_mark: {client_label(r.client_name, r.client_code)} · {escape(r.change or '')}"
        if r.ok
        else f":x: {client_label(r.client_name, r.client_code or r.client_id)} · {escape(r.error or '')}"
        for r in results
    ]


def _result_blocks(results: list[BulkResult], heading: str) -> list[dict[str, Any]]:
    ok = sum(r.ok for r in results)
    blocks = [
        section(
            f"{heading}: {ok} will change, {len(results) - ok} will not."
            if "Preview" in heading
            else f"{heading}: {ok} changed, {len(results) - ok} failed."
        )
    ]
    lines = _lines(results)
    for start in range(0, len(lines), 25):
        blocks.append(section(truncate("\n".join(lines[start : start + 25]), 3000)))
    return blocks


def working_view(external_id: str) -> dict[str, Any]:
    """Pushed at once when the form is submitted; replaced by the preview (found by `external_id`)."""
    return modal(
        callback_id="bulk_working",
        title="Bulk operation",
        close="Back",
        blocks=[section(":hourglass_flowing_sand: Working out the preview…")],
        external_id=external_id,
    )


def preview_view(results: list[BulkResult], data: BulkIn, external_id: str = "") -> dict[str, Any]:
    """The dry run's outcome; confirming runs it for real on the clients that previewed well. The
    metadata is small and always whole: their codes, the operation and its parameters."""
    codes = [r.client_code for r in results if r.ok and r.client_code]
    metadata = json.dumps(
        {
            "client_ids": codes,
            "operation": data.operation,
            "parameters": data.parameters.model_dump(mode="json"),
        },
        ensure_ascii=False,
    )
    label = OPERATIONS.get(data.operation, data.operation)
    blocks = _result_blocks(results, f"Preview of *{label}*")
    if len(metadata) > METADATA_MAX:  # cannot happen within the form's limits; never send a cut request
        codes, metadata = [], ""
        blocks.insert(0, section(":warning: Too much to confirm at once: choose fewer clients."))
    irreversible = required_role(data) == Role.ADMIN  # archiving or deactivating
    if codes and irreversible:  # a modal's submit is always green: a red button with Slack's dialog instead
        status = str(getattr(data.parameters, "status", ""))
        verb = "Archive" if data.operation == "archive" or status.endswith("archived") else "Deactivate"
        blocks.append(
            actions(
                button(
                    f"{verb} {len(codes)} client(s)",
                    RUN_ACTION,
                    style="danger",
                    confirm=confirm_dialog(
                        f"{verb} {len(codes)} client(s)?",
                        f"{verb} {len(codes)} client(s) now. The reason and who did it are kept in the "
                        "audit trail; archiving can't be undone.",
                        verb,
                    ),
                ),
                block_id="bulk_run",
            )
        )
    return modal(
        callback_id=CONFIRM_CALLBACK,
        title="Confirm bulk change",
        submit="Confirm" if codes and not irreversible else None,
        close="Back",
        blocks=blocks,
        private_metadata=metadata if codes else "",
        external_id=external_id,
    )


def problem_view(text: str, external_id: str = "") -> dict[str, Any]:
    """When the preview cannot be worked out (e.g. the filter matches too many clients)."""
    return modal(
        callback_id="bulk_problem",
        title="Bulk operation",
        close="Back",
        blocks=[section(f":warning: {escape(text)}")],
        external_id=external_id,
    )


def running_view(count: int) -> dict[str, Any]:
    return modal(
        callback_id="bulk_running",
        title="Bulk operation",
        close="Close",
        blocks=[section(f":hourglass_flowing_sand: Applying the change to {count} client(s)…")],
    )


def results_message(results: list[BulkResult], operation: str) -> dict[str, Any]:
    """The results as a message, for when the user closed the modal before the run finished."""
    label = OPERATIONS.get(operation, operation)
    ok = sum(r.ok for r in results)
    blocks = _result_blocks(results, f"*{label}* (bulk operation)")
    blocks.append(context("You closed the bulk window before it finished; this is what was done."))
    return slack_message(f"Bulk operation {label}: {ok} changed, {len(results) - ok} failed.", blocks)


def problem_message(text: str) -> dict[str, Any]:
    return slack_message(text, [section(f":warning: Bulk operation: {escape(text)}")])


def results_view(results: list[BulkResult], operation: str) -> dict[str, Any]:
    label = OPERATIONS.get(operation, operation)
    return modal(
        callback_id="bulk_done",
        title="Bulk operation",
        close="Done",
        blocks=_result_blocks(results, f"*{label}*"),
    )
