"""The weekly digest message posted to CLIENTBOT_DIGEST_CHANNEL."""

from __future__ import annotations

from typing import Any

from bot.services.digest import Digest
from views import health as health_views
from views.common import context, escape, fields_section, header, message, section, truncate


def digest_message(digest: Digest, *, private: bool) -> dict[str, Any]:
    """`private` is False for a channel shared with other organisations: revenue stays out of it."""
    span = f"{digest.start:%d %b} – {digest.end:%d %b %Y}"
    blocks: list[dict[str, Any]] = [
        header(f"Weekly client digest · {span}"),
        fields_section(
            [
                ("New clients", str(len(digest.new_clients))),
                ("Status changes", str(len(digest.status_changes))),
                ("Jobs opened / filled", f"{digest.jobs_opened} / {digest.jobs_filled}"),
                ("Hires · revenue", f"{digest.hires} · {digest.revenue:,.2f}")
                if private
                else ("Hires", str(digest.hires)),
                ("Feedback received", str(digest.feedback_received)),
                ("Follow-ups overdue", str(digest.overdue_count)),
            ]
        ),
    ]
    if digest.new_clients:
        blocks.append(
            section("*New clients*\n" + truncate(", ".join(escape(c) for c in digest.new_clients), 2900))
        )
    if digest.status_changes:
        blocks.append(
            section(
                "*Status changes*\n" + truncate("\n".join(escape(c) for c in digest.status_changes), 2900)
            )
        )
    if digest.overdue:
        lines = [
            f"• `{code}` {escape(truncate(subject, 100))} (due {due})"
            for code, subject, due in digest.overdue
        ]
        more = digest.overdue_count - len(digest.overdue)
        blocks.append(
            section("*Overdue follow-ups*\n" + "\n".join(lines) + (f"\n…and {more} more" if more else ""))
        )
    if digest.health is not None:
        blocks += health_views.digest_blocks(digest.health, private=private)
    blocks.append(
        context("Sent by clientbot every Monday. `/client list` and `/client show CODE` for details.")
    )
    return message(f"Weekly client digest {span}", blocks)


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
