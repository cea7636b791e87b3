"""Client health in Slack: pure functions turning services/health.py results into mrkdwn lines and blocks,
inserted into the dashboard, the client list, App Home and the weekly digest. Reason texts carry no user
input (numbers and periods only); client names and codes are escaped."""

from __future__ import annotations

from typing import Any

from bot.models import Client
from bot.services.health import Health, Level, RiskReport
from views.common import client_label, context, escape, message, section, truncate

LEVEL_ICONS = {
    Level.HEALTHY: ":large_green_circle:",
    Level.WATCH: ":large_yellow_circle:",
    Level.AT_RISK: ":warning:",
}
LEVEL_LABELS = {Level.HEALTHY: "healthy", Level.WATCH: "watch", Level.AT_RISK: "at risk"}
HOT = ":fire:"


def summary(health: Health, *, max_reasons: int = 3, contact: bool = True) -> str:
    """`last contact 23 days ago · ⚠ at risk: 2 overdue follow-ups, feedback 4.2 → 3.1` (mrkdwn); without
    the last contact where the surface says it already (the dashboard card's header line)."""
    level = f"{LEVEL_ICONS[health.level]} *{LEVEL_LABELS[health.level]}* ({health.score})"
    shown = [r.text for r in health.reasons if r.code != "no_contact"][:max_reasons]
    if shown:
        level += ": " + escape(", ".join(shown))
    hot = f"{HOT} hot · " if health.hot else ""
    return f"{hot}{health.contact_text} · {level}" if contact else f"{hot}{level}"


def card_line(health: Health | None) -> list[dict[str, Any]]:
    """The dashboard's health line: one context block, none for inactive and archived clients."""
    return [context(summary(health, max_reasons=5, contact=False))] if health else []


def list_suffix(health: Health | None) -> str:
    """What a `/client list` or App Home row adds: a new line with the health summary."""
    return f"\n{summary(health)}" if health else ""


def hot_changed_message(client: Client, hot: bool, changed: bool) -> dict[str, Any]:
    name = f"*{escape(client.name)}* (`{client.client_code}`)"
    if not changed:
        text = f"{name} was already {'flagged hot' if hot else 'not hot'}."
    elif hot:
        text = f"{HOT} {name} is now flagged *hot*."
    else:
        text = f"{name} is no longer flagged hot."
    return message(f"{client.client_code} hot: {'on' if hot else 'off'}", [section(text)])


def digest_blocks(report: RiskReport, *, private: bool) -> list[dict[str, Any]]:
    """The weekly digest's "at risk this week" and "newly at risk" (from the nightly snapshots); the
    reasons (which may quote feedback scores) only where `private`."""
    if report.day is None:
        return []
    if not report.at_risk:
        return [section(f"{LEVEL_ICONS[Level.HEALTHY]} *At risk this week*\nNo client is at risk.")]
    lines = [
        f"• {client_label(truncate(name, 60), code)}"
        + (f": {escape(', '.join(reasons[:3]))}" if private and reasons else "")
        for code, name, reasons in report.at_risk
    ]
    more = f"\n_…and {report.total - len(report.at_risk)} more_" if report.total > len(report.at_risk) else ""
    blocks = [
        section(
            f"{LEVEL_ICONS[Level.AT_RISK]} *At risk this week* · {report.total}\n" + "\n".join(lines) + more
        )
    ]
    if report.newly:
        names = {code: name for code, name, _ in report.at_risk}
        newly = [client_label(truncate(names[c], 60), c) if c in names else escape(c) for c in report.newly]
        blocks.append(context("*Newly at risk:* " + ", ".join(newly)))
    return blocks
