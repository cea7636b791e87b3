"""The weekly digest message posted to CLIENTBOT_DIGEST_CHANNEL."""

from __future__ import annotations

from typing import Any

from bot.services.digest import Digest
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
    blocks.append(
        context("Sent by clientbot every Monday. `/client list` and `/client show CODE` for details.")
    )
    return message(f"Weekly client digest {span}", blocks)
