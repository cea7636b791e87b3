"""The `/client help` text, grouped by what people do and limited to what the user's role allows, and the
answer to a sub-command clientbot doesn't know."""

from __future__ import annotations

from typing import Any

from bot.models import Role
from bot.roles import ROLE_TITLES
from views.clients import run_button
from views.common import actions, button, context, escape, message, section

HELP_ACTION = "client_help"  # the *All commands* button; handled by handlers/commands.py

# sub-command -> (usage, what it does, the least role that may); the router decides which of these exist.
COMMANDS: dict[str, tuple[str, str, Role]] = {
    "list": (
        "list [status:S] [industry:I] [manager:@user] [from:DATE] [to:DATE] [health:LEVEL] [sort:health]"
        " [text]",
        "Browse and search clients",
        Role.RECRUITER,
    ),
    "show": ("show CODE", "A client's dashboard", Role.RECRUITER),
    "jobs": ("jobs CODE", "A client's jobs and pipeline", Role.RECRUITER),
    "history": ("history CODE [filters] [text]", "Communication timeline", Role.RECRUITER),
    "feedback-history": ("feedback-history CODE", "Feedback by period", Role.RECRUITER),
    "export": ("export CODE", "Dashboard as PDF, in your DMs", Role.RECRUITER),
    "subscriptions": ("subscriptions", "The clients this channel follows", Role.RECRUITER),
    "log": ("log CODE", "Log a call, meeting or email", Role.RECRUITER),
    "feedback": ("feedback CODE", "Give quarterly client feedback", Role.MANAGER),
    "report": ("report CODE [PERIOD] [vs PERIOD]", "Performance report: chart + PDF", Role.MANAGER),
    "new": ("new", "Create a client", Role.MANAGER),
    "edit": ("edit CODE", "Edit a client and its contacts", Role.MANAGER),
    "status": ("status CODE active|on-hold [reason]", "Change a client's status", Role.MANAGER),
    "hot": ("hot CODE on|off", "Flag a client as hot", Role.MANAGER),
    "job": ("job new", "Create a job for a client", Role.MANAGER),
    "link": ("link CODE JOB… / unlink CODE JOB", "Link or unlink jobs", Role.MANAGER),
    "bulk": ("bulk", "Change many clients at once, with a preview", Role.MANAGER),
    "import": ("import", "Import clients and contacts from a CSV or CRM export", Role.MANAGER),
    "subscribe": (
        "subscribe CODE [status hires important feedback health]",
        "Post a client's updates in this channel",
        Role.MANAGER,
    ),
    "unsubscribe": ("unsubscribe CODE", "Stop posting a client's updates here", Role.MANAGER),
    "metrics": ("metrics [PERIOD]", "The agency's success metrics", Role.MANAGER),
    "deactivate": ("deactivate CODE reason…", "Deactivate a client", Role.ADMIN),
    "role": ("role @user admin|manager|recruiter", "Change someone's role", Role.ADMIN),
}
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (":mag: Find a client", ("list", "show", "jobs", "history", "feedback-history", "export")),
    (":memo: Log and follow up", ("log", "feedback", "report")),
    (":office: Manage clients", ("new", "edit", "status", "hot", "job", "link", "bulk", "import")),
    (":bell: Follow in a channel", ("subscribe", "subscriptions", "unsubscribe")),
    (":key: Administer", ("metrics", "deactivate", "role")),
)


def allowed(name: str, role: Role) -> bool:
    """Whether help shows `name` to someone with `role` (the services check again when it runs)."""
    entry = COMMANDS.get(name)
    return entry is not None and role.rank >= entry[2].rank


def help_message(
    available: list[str], intro: str | None = None, *, role: Role = Role.RECRUITER
) -> dict[str, Any]:
    """The commands `role` may run, by what people do with them."""
    blocks = [section(intro)] if intro else []
    for title, names in GROUPS:
        lines = [
            f"`/client {COMMANDS[n][0]}`  {COMMANDS[n][1]}"
            for n in names
            if n in available and allowed(n, role)
        ]
        if lines:
            blocks.append(section(f"*{title}*\n" + "\n".join(lines)))
    blocks.append(
        context(
            f"You are {ROLE_TITLES[role]}. CODE is a client code such as `CLT-2026-0001` or a client name. "
            'Dates are YYYY-MM-DD, periods YYYY-Qn. Quote names with spaces: `/client edit "Acme Corp"`.'
        )
    )
    return message("clientbot help", blocks)


def unknown_command_message(typed: str, guess: str | None, args: str) -> dict[str, Any]:
    """A sub-command clientbot doesn't know: the one it was probably meant to be, ready to run."""
    if guess is None:
        text = f"I don't know `{escape(typed)}`."
        return message(text, [section(text), actions(button("All commands", HELP_ACTION, "help"))])
    again = f"/client {guess} {args}".strip()
    text = f"I don't know `{escape(typed)}`. Did you mean `{escape(again)}`?"
    return message(
        text,
        [
            section(text),
            actions(
                run_button(f"Run /client {guess}", guess, args, n="typo", style="primary"),
                button("All commands", HELP_ACTION, "help"),
            ),
        ],
    )
