"""The weekly digest message posted to CLIENTBOT_DIGEST_CHANNEL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.services.digest import Digest
from views import health as health_views
from views.common import (
    client_label,
    context,
    escape,
    fields_section,
    header,
    mention,
    message,
    money,
    relative_day,
    section,
    truncate,
)


def _versus(now: int | Decimal, before: int | Decimal, show: Any = str) -> str:
    """ "5 (+2 vs last week)"."""
    delta = now - before
    if not delta:
        return f"{show(now)} (same as last week)"
    sign = "+" if delta > 0 else "−"
    return f"{show(now)} ({sign}{show(abs(delta))} vs last week)"


def digest_span(digest: Digest) -> str:
    """ "30 Nov - 06 Dec 2026" (an en dash): the week's first and last day, the chart's days."""
    return f"{digest.start:%d %b} – {digest.last_day:%d %b %Y}"


def digest_message(digest: Digest, *, private: bool) -> dict[str, Any]:
    """`private` is False for a channel shared with other organisations: revenue stays out of it."""
    span = digest_span(digest)
    now, before = digest.figures, digest.previous
    blocks: list[dict[str, Any]] = [
        header(f"Weekly client digest · {span}"),
        fields_section(
            [
                ("New clients", _versus(now.new_clients, before.new_clients)),
                (
                    "Jobs opened · filled",
                    f"{now.jobs_opened} · {now.jobs_filled}"
                    f" (last week {before.jobs_opened} · {before.jobs_filled})",
                ),
                ("Hires", _versus(now.hires, before.hires)),
                *([("Revenue", _versus(now.revenue, before.revenue, money))] if private else []),
                ("Feedback received", _versus(now.feedback_received, before.feedback_received)),
                ("Follow-ups overdue", str(digest.overdue_count)),
            ]
        ),
    ]
    if digest.hired:
        lines = [
            f":tada: *{escape(h.candidate)}* · {escape(truncate(h.job, 80))} · "
            + (client_label(h.client_name, h.client_code) if h.client_code else "no client")
            + f" · {h.at:%a %d %b}"
            for h in digest.hired[:15]
        ]
        more = len(digest.hired) - 15
        blocks.append(section("*Hires*\n" + "\n".join(lines) + (f"\n…and {more} more" if more > 0 else "")))
    else:
        blocks.append(context(":zzz: No hires this week."))
    if digest.new_clients:
        names = ", ".join(client_label(name, code) for name, code in digest.new_clients)
        blocks.append(section("*New clients*\n" + truncate(names, 2900)))
    if digest.status_changes:
        lines = [
            f"{client_label(name, code)}: {was} → {now_}" for name, code, was, now_ in digest.status_changes
        ]
        blocks.append(section("*Status changes*\n" + truncate("\n".join(lines), 2900)))
    if digest.overdue:
        sent = digest.today or digest.last_day + timedelta(days=1)
        lines = [
            f"• {client_label(o.client_name, o.client_code)}"
            f" · {escape(truncate(o.subject or 'no subject', 100))}"
            f" · {mention(o.owner_slack_id) if o.owner_slack_id else 'no owner'}"
            f" · due {relative_day(o.due, sent)} ({o.due:%d %b})"
            for o in digest.overdue
        ]
        more = digest.overdue_count - len(digest.overdue)
        blocks.append(
            section("*Overdue follow-ups*\n" + "\n".join(lines) + (f"\n…and {more} more" if more else ""))
        )
    if digest.health is not None:
        blocks += health_views.digest_blocks(digest.health, private=private)
    blocks.append(
        context(
            "Sent by clientbot every Monday"
            + (" · the hires chart is in the thread" if digest.hired else "")
            + " · `/client list` and `/client show CODE` for details."
        )
    )
    return message(f"Weekly client digest {span}", blocks)


def chart_comment(digest: Digest) -> str:
    """The comment on the hires chart posted in the digest's thread."""
    return f"Hires per day, {digest_span(digest)}."


# Why the bot could not post into the digest channel, and what an HR Admin does about it: Slack's
# chat.postMessage / files.completeUploadExternal errors.
_CHANNEL_PROBLEMS = {
    "not_in_channel": (
        "I'm not a member of {where}, so I can't post there.",
        "Type `/invite @clientbot` in {where} (or mention @clientbot there and choose *Invite*).",
    ),
    "channel_not_found": (
        "I can't find the channel `{channel}`: it was deleted, the id is wrong, or it is private and I'm"
        " not in it.",
        "If it is a private channel, type `/invite @clientbot` in it. Otherwise set"
        " `CLIENTBOT_DIGEST_CHANNEL` to the id of a channel I'm in.",
    ),
    "is_archived": (
        "{where} is archived, so nothing can be posted there.",
        "Unarchive it, or set `CLIENTBOT_DIGEST_CHANNEL` to another channel and `/invite @clientbot` there.",
    ),
}


def channel_problem_message(*, what: str, channel: str, error: str) -> dict[str, Any]:
    """DM to the HR Admins, once per channel and problem: `what` (e.g. "The weekly digest for 2026-W49")
    could not be posted to `channel`, why, and the fix."""
    problem, fix = _CHANNEL_PROBLEMS.get(error, _CHANNEL_PROBLEMS["channel_not_found"])
    # A channel Slack does not show the bot would render as "private channel": name it by its id instead.
    where = f"`{escape(channel)}`" if error == "channel_not_found" else f"<#{channel}>"
    problem, fix = problem.format(where=where, channel=channel), fix.format(where=where, channel=channel)
    return message(
        f"{what} was not posted to {channel}.",  # the notification: plain text, escaped by message()
        [
            section(f":warning: *{escape(what)} was not posted to {where}.*\n{problem}"),
            section(f"*To fix it:* {fix}"),
            context(
                f"Slack said `{escape(error)}`. Later digests and summaries go out on their usual schedule"
                " once I can post there; I won't repeat this message until then."
            ),
        ],
    )
