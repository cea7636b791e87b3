"""The bulk-operation modal: choose clients and an operation, preview (a dry run), confirm, results."""

from __future__ import annotations

import json
from typing import Any

from bot.services.bulk import BulkResult
from views.common import context, escape, input_block, modal, option, plain, section, text_input, truncate
from views.jobs import CLIENT_PICKER

FORM_CALLBACK = "bulk_form"
CONFIRM_CALLBACK = "bulk_confirm"
OPERATIONS = {
    "change_status": "Change status",
    "reassign_account_manager": "Reassign account manager",
    "link_jobs": "Link jobs",
    "archive": "Archive (HR Admin)",
}
STATUSES = ("active", "on-hold", "inactive", "archived")


def bulk_form() -> dict[str, Any]:
    blocks = [
        input_block(
            "clients",
            "Clients",
            {
                "type": "multi_external_select",
                "action_id": CLIENT_PICKER,
                "min_query_length": 1,
                "max_selected_items": 100,
                "placeholder": plain("Type client names or codes"),
            },
            optional=False,
        ),
        input_block(
            "operation",
            "Operation",
            {
                "type": "static_select",
                "action_id": "value",
                "options": [option(label, key) for key, label in OPERATIONS.items()],
            },
            optional=False,
        ),
        input_block(
            "status",
            "New status (for Change status)",
            {"type": "static_select", "action_id": "value", "options": [option(s, s) for s in STATUSES]},
        ),
        input_block(
            "manager", "New account manager (for Reassign)", {"type": "users_select", "action_id": "value"}
        ),
        text_input(
            "jobs",
            "Job references (for Link jobs)",
            placeholder="JOB-2026-0001, JOB-2026-0002",
            max_length=3000,
        ),
        input_block(
            "move",
            "Jobs linked to another client",
            {"type": "checkboxes", "action_id": "value", "options": [option("Move them", "move")]},
        ),
        text_input("reason", "Reason", max_length=2000, hint="Required to deactivate or archive."),
        context("Next you see what would change for each client; nothing is written until you confirm."),
    ]
    return modal(callback_id=FORM_CALLBACK, title="Bulk operation", submit="Preview", blocks=blocks)


def read_bulk_form(values: dict[str, Any]) -> dict[str, Any]:
    def element(block: str, action: str = "value") -> dict[str, Any]:
        return (values.get(block) or {}).get(action) or {}

    operation = (element("operation").get("selected_option") or {}).get("value")
    parameters: dict[str, Any] = {"reason": element("reason").get("value")}
    if operation == "change_status":
        parameters["status"] = (element("status").get("selected_option") or {}).get("value")
    elif operation == "reassign_account_manager":
        parameters["account_manager_id"] = element("manager").get("selected_user")
    elif operation == "link_jobs":
        raw = element("jobs").get("value") or ""
        parameters["job_references"] = [r for r in raw.replace(",", " ").split() if r]
        parameters["move"] = bool(element("move").get("selected_options"))
    return {
        "client_ids": [o["value"] for o in element("clients", CLIENT_PICKER).get("selected_options") or []],
        "operation": operation,
        "parameters": parameters,
    }


FIELDS = {
    "client_ids": "clients",
    "operation": "operation",
    "parameters.status": "status",
    "parameters.account_manager_id": "manager",
    "parameters.job_references": "jobs",
}


def bulk_errors(fields: dict[str, str]) -> dict[str, str]:
    return {FIELDS.get(k, "operation"): truncate(v, 150) for k, v in fields.items()}


def _lines(results: list[BulkResult]) -> list[str]:
    return [
        f":white_check_mark: `{r.client_code}` {escape(r.change or '')}"
        if r.ok
        else f":x: `{r.client_code or r.client_id}` {escape(r.error or '')}"
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


def preview_view(results: list[BulkResult], request: dict[str, Any]) -> dict[str, Any]:
    """The dry run's outcome; confirming runs it for real. Carries the request (client codes) in metadata."""
    codes = [r.client_code for r in results if r.ok and r.client_code]
    metadata = json.dumps(
        {"client_ids": codes, "operation": request["operation"], "parameters": request["parameters"]}
    )
    label = OPERATIONS.get(request["operation"], request["operation"])
    return modal(
        callback_id=CONFIRM_CALLBACK,
        title="Confirm bulk change",
        submit="Confirm",
        close="Back",
        blocks=_result_blocks(results, f"Preview of *{label}*"),
        private_metadata=metadata[:3000],
    )


def running_view(count: int) -> dict[str, Any]:
    return modal(
        callback_id="bulk_running",
        title="Bulk operation",
        close="Close",
        blocks=[section(f":hourglass_flowing_sand: Applying the change to {count} client(s)…")],
    )


def results_view(results: list[BulkResult], operation: str) -> dict[str, Any]:
    label = OPERATIONS.get(operation, operation)
    return modal(
        callback_id="bulk_done",
        title="Bulk operation",
        close="Done",
        blocks=_result_blocks(results, f"*{label}*"),
    )
