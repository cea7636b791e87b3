"""The `/client help` text: every sub-command of the contract."""

from __future__ import annotations

from typing import Any

from views.common import context, message, section

# sub-command -> (usage, what it does); the router decides which of these exist.
COMMANDS: dict[str, tuple[str, str]] = {
    "new": ("new", "Create a client (modal)"),
    "list": (
        "list [status:S] [industry:I] [manager:@user] [from:DATE] [to:DATE] [health:LEVEL] [sort:health]"
        " [text]",
        "Browse clients, 20 a page",
    ),
    "show": ("show CODE", "Client dashboard"),
    "edit": ("edit CODE", "Edit a client (modal)"),
    "hot": ("hot CODE on|off", "Flag a client as hot (HR Manager)"),
    "status": ("status CODE active|inactive|on-hold|archived [reason]", "Change a client's status"),
    "deactivate": ("deactivate CODE reason…", "Deactivate a client (HR Admin)"),
    "log": ("log CODE", "Log a communication (modal)"),
    "history": ("history CODE [filters] [text]", "Communication timeline"),
    "feedback": ("feedback CODE", "Submit client feedback (modal)"),
    "feedback-history": ("feedback-history CODE", "Feedback by period"),
    "report": ("report CODE [PERIOD] [vs PERIOD]", "Performance report: chart + PDF"),
    "export": ("export CODE", "Dashboard as PDF"),
    "job": ("job new", "Create a job for a client (modal)"),
    "jobs": ("jobs CODE", "A client's jobs and pipeline"),
    "link": ("link CODE JOB… / unlink CODE JOB", "Link or unlink jobs"),
    "bulk": ("bulk", "Bulk operation with preview (modal)"),
    "import": ("import", "Import clients and contacts from a CSV or CRM export (HR Manager)"),
    "role": ("role @user admin|manager|recruiter", "Change someone's role (HR Admin)"),
    "subscribe": ("subscribe CODE [status hires important feedback health]", "Post a client's updates here"),
    "subscriptions": ("subscriptions", "The clients this channel follows"),
    "unsubscribe": ("unsubscribe CODE", "Stop posting a client's updates here"),
    "metrics": ("metrics [PERIOD]", "The agency's success metrics (HR Managers)"),
}


def help_message(available: list[str], intro: str | None = None) -> dict[str, Any]:
    lines = "\n".join(f"`/client {COMMANDS[n][0]}`  {COMMANDS[n][1]}" for n in available if n in COMMANDS)
    blocks = []
    if intro:
        blocks.append(section(intro))
    blocks += [
        section(f"*clientbot commands*\n{lines}"),
        context(
            "CODE is a client code such as `CLT-2026-0001` or a client name. Dates are YYYY-MM-DD, "
            'periods YYYY-Qn. Use quotes for names with spaces: `/client edit "Acme Corp"`.'
        ),
    ]
    return message("clientbot help", blocks)
