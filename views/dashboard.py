"""The client dashboard message and the App Home portfolio."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from bot.models import Client, User
from bot.roles import ROLE_TITLES
from bot.services.clients import primary_contact
from bot.services.dashboard import Dashboard, PortfolioPage
from views.clients import (
    EDIT_ACTION,
    FEEDBACK_ACTION,
    HISTORY_ACTION,
    JOBS_ACTION,
    LOG_ACTION,
    NEW_CLIENT_ACTION,
    OPEN_ACTION,
    STATUS_ICONS,
)
from views.common import (
    actions,
    button,
    context,
    divider,
    escape,
    fields_section,
    header,
    link,
    logo_context,
    mention,
    message,
    option,
    plain,
    section,
    slack_date,
    truncate,
)
from views.jobs import STAGE_ICONS

SHARE_ACTION = "dashboard_share"
CHART_ACTION = "dashboard_chart"
FEEDBACK_HISTORY_ACTION = "feedback_history_open"  # handled by handlers/feedback.py
EXPORT_ACTION = "dashboard_export"
HOME_FILTER_ACTION = "home_filter_status"
HOME_INDUSTRY_ACTION = "home_filter_industry"
HOME_FROM_ACTION = "home_filter_from"
HOME_TO_ACTION = "home_filter_to"
HOME_PAGE_ACTION = "home_page"
TIMELINE_ICONS = {
    "job": ":briefcase:",
    "candidate": ":bust_in_silhouette:",
    "stage": ":arrow_right:",
    "hire": ":tada:",
    "communication": ":speech_balloon:",
    "feedback": ":star:",
}


def _money(value: Any) -> str:
    return f"{value:,.2f}"


CHANGE_LABELS = {
    "active_jobs": "active jobs",
    "total_candidates": "candidates",
    "placements": "placements",
    "revenue": "revenue",
}


def _changes(d: Dashboard, *, shared: bool) -> list[dict[str, Any]]:
    """One context line: today's figures against the nightly snapshot (revenue only where it is private)."""
    changes = [c for c in d.changes if not (shared and c.figure == "revenue")]
    if not changes:
        return []

    def show(value: Any) -> str:
        return _money(value) if isinstance(value, Decimal) else str(value)

    parts = [
        f"{CHANGE_LABELS[c.figure]} {show(c.then)} → {show(c.now)}"
        + (f" ({'+' if c.delta > 0 else ''}{show(c.delta)})" if c.delta else "")
        for c in changes
    ]
    return [context(f":chart_with_upwards_trend: Since {d.since:%d %b %Y}: " + " · ".join(parts))]


def dashboard_message(
    d: Dashboard, *, shared: bool = False, can_edit: bool = False, external: bool = False
) -> dict[str, Any]:
    """The dashboard. `shared` is the copy posted for everyone: it leaves out private figures (revenue),
    follow-ups, the contact's email, candidate names, subjects and feedback scores. `external` (a channel
    shared with another company, Slack Connect) leaves out the contact and the activity as well."""
    client, stats = d.client, d.stats
    manager = (
        mention(client.account_manager.slack_user_id) if client.account_manager else "no account manager"
    )
    contact = primary_contact(client)
    email = f" {link(f'mailto:{contact.email}', contact.email)}" if contact and not shared else ""
    who = f"{escape(contact.full_name)}{email}" if contact else "no contact"
    last = f"last activity {slack_date(d.last_activity)}" if d.last_activity else "no activity yet"
    rate = f"{stats.offer_acceptance_rate:.0%}" if stats.offer_acceptance_rate is not None else "—"
    ttf = f"{stats.avg_time_to_fill_days:g} days" if stats.avg_time_to_fill_days is not None else "—"
    headline = [
        ("Active jobs", str(stats.active_jobs)),
        ("Total candidates", str(stats.total_candidates)),
        ("Placements", str(stats.placements)),
    ]
    if not shared:
        headline.append(("Revenue", _money(stats.revenue)))
    blocks: list[dict[str, Any]] = [
        header(client.name),
        logo_context(
            client.logo_slack_file_id,
            f"`{client.client_code}` · {STATUS_ICONS.get(client.status, '')} {client.status}"
            f" · {escape(client.industry or 'no industry')} · {manager} · {last}",
        ),
        *([] if shared and external else [context(f"Primary contact: {who}")]),
        fields_section(headline),
        *_changes(d, shared=shared),
        fields_section(
            [
                ("Open positions", str(stats.open_positions)),
                ("Avg. time to fill", ttf),
                ("Offer acceptance", rate),
                ("Candidate quality", f"{stats.avg_quality_score:g} / 5" if stats.avg_quality_score else "—"),
            ]
        ),
        section(
            "*Pipeline*  " + "   ".join(f"{STAGE_ICONS[s]} {s} *{n}*" for s, n in stats.pipeline.items())
        ),
    ]
    if d.follow_ups and not shared:
        lines = [
            f"{':red_circle:' if r.follow_up_date < d.today else ':alarm_clock:'} {r.follow_up_date} · "
            f"{escape(truncate(r.subject or r.notes or '', 100))}"
            for r in d.follow_ups[:8]
        ]
        blocks.append(section("*Follow-ups due*\n" + "\n".join(lines)))
    blocks.append(divider())
    timeline = [(i, i.public if shared else i.text) for i in ([] if external else d.timeline)]
    if any(text for _, text in timeline):
        lines = [
            f"{TIMELINE_ICONS.get(i.kind, '•')} {slack_date(i.at)} {escape(truncate(text, 150))}"
            for i, text in timeline[:15]
            if text
        ]
        blocks.append(section("*Recent activity*\n" + "\n".join(lines)))
    elif not external:
        blocks.append(context("No activity yet."))
    if shared and external:
        blocks.append(
            context(":lock: Shared with another organisation: the contact and recent activity are left out.")
        )
    if not shared:
        client_id = str(client.id)
        buttons = [
            button("Share in channel", SHARE_ACTION, client_id),
            button("Chart", CHART_ACTION, client_id),
            button("Export PDF", EXPORT_ACTION, client_id),
            button("Jobs", JOBS_ACTION, client_id),
            button("History", HISTORY_ACTION, client_id),
            button("Log communication", LOG_ACTION, client_id),
            button("Feedback history", FEEDBACK_HISTORY_ACTION, client_id),
        ]
        if can_edit:
            buttons += [
                button("Give feedback", FEEDBACK_ACTION, client_id),
                button("Edit", EDIT_ACTION, client_id),
            ]
        blocks.append(actions(*buttons, block_id=f"dashboard_{client.id}"))
    return message(f"Dashboard: {client.name}", blocks)


def progress_message(text: str) -> dict[str, Any]:
    """Progress of slow work; `text` is plain (it may name the client) and is escaped."""
    return message(text, [section(f":hourglass_flowing_sand: {escape(text)}")])


def sent_message(text: str) -> dict[str, Any]:
    return message(text, [section(f":white_check_mark: {escape(text)}")])


def failed_message(text: str) -> dict[str, Any]:
    return message(text, [section(f":x: {escape(text)}")])


def chart_comment(client: Client) -> str:
    """The `initial_comment` of the dashboard chart (mrkdwn)."""
    return f"Pipeline and hires of *{escape(client.name)}*."


def export_comment(client: Client) -> str:
    return f"Dashboard report of *{escape(client.name)}*."


def home_view(
    user: User, page: PortfolioPage, *, can_create: bool, filters: dict[str, Any]
) -> dict[str, Any]:
    """The viewer's portfolio: their clients with health figures (filtered by status, industry and
    created dates, 20 a page), follow-ups due this week, and clients without last quarter's feedback.
    The filters travel in the view's private_metadata."""
    blocks: list[dict[str, Any]] = [
        header("Your client portfolio"),
        context(f"You are {ROLE_TITLES[user.role_enum]}. Type `/client help` for every command."),
    ]
    statuses = [option("All statuses", "all")] + [
        option(s, s) for s in ("active", "on-hold", "inactive", "archived")
    ]
    industries = [option("All industries", "all")] + [option(i, i) for i in page.industries[:99]]
    controls: list[dict[str, Any]] = [
        _select(HOME_FILTER_ACTION, statuses, filters.get("status")),
        _select(HOME_INDUSTRY_ACTION, industries, filters.get("industry")),
        _date(HOME_FROM_ACTION, "Created from", filters.get("from")),
        _date(HOME_TO_ACTION, "Created to", filters.get("to")),
    ]
    if can_create:
        controls.append(button("New client", NEW_CLIENT_ACTION, style="primary"))
    blocks.append(actions(*controls, block_id="home_controls"))
    if page.follow_ups:
        lines = [
            f":alarm_clock: {r.follow_up_date} · *{escape(code)}* · {escape(truncate(r.subject or '', 80))}"
            for r, code in page.follow_ups[:10]
        ]
        blocks.append(section("*Follow-ups due this week*\n" + "\n".join(lines)))
    if page.feedback_due:
        codes = ", ".join(f"`{code}`" for code in page.feedback_due[:30])
        blocks.append(section(f"*Due for {page.feedback_period} feedback*\n{codes}"))
    blocks += [divider(), section(f"*Your clients* · {page.total} · page {page.page} of {page.pages}")]
    if not page.rows:
        blocks.append(context("No clients here: you are the account manager of none with this status."))
    for row in page.rows:
        client = row.client
        last = slack_date(row.last_activity) if row.last_activity else "no activity"
        blocks.append(
            section(
                f"{STATUS_ICONS.get(client.status, '')} *{escape(client.name)}* `{client.client_code}`\n"
                f":briefcase: {row.active_jobs} active jobs · :busts_in_silhouette: {row.in_pipeline}"
                f" in pipeline · :tada: {row.hires} hires · {last}",
                accessory=button("Open", OPEN_ACTION, str(client.id)),
            )
        )
    nav = []
    if page.page > 1:
        nav.append(button("◀ Previous", f"{HOME_PAGE_ACTION}_prev", str(page.page - 1)))
    if page.page < page.pages:
        nav.append(button("Next ▶", f"{HOME_PAGE_ACTION}_next", str(page.page + 1)))
    if nav:
        blocks.append(actions(*nav, block_id="home_nav"))
    metadata = {k: v for k, v in filters.items() if k in HOME_FILTERS} | {"page": page.page}
    return {"type": "home", "blocks": blocks[:100], "private_metadata": json.dumps(metadata)[:3000]}


HOME_FILTERS = ("status", "industry", "from", "to")


def read_home_metadata(raw: str | None) -> tuple[dict[str, str], int]:
    """(filters, page) kept in a published Home view's private_metadata. Anything unreadable (an older
    or foreign Home, a bad date) is dropped rather than failing the Home."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    filters = {k: v for k in HOME_FILTERS if isinstance(v := data.get(k), str) and v and len(v) <= 100}
    for key in ("from", "to"):
        if key in filters:
            try:
                date.fromisoformat(filters[key])
            except ValueError:
                del filters[key]
    page = data.get("page")
    return filters, page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1


def _select(action_id: str, options: list[dict[str, Any]], chosen: str | None) -> dict[str, Any]:
    initial = next((o for o in options if o["value"] == (chosen or "all")), options[0])
    return {"type": "static_select", "action_id": action_id, "options": options, "initial_option": initial}


def _date(action_id: str, label: str, chosen: str | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "datepicker", "action_id": action_id, "placeholder": plain(label)}
    if chosen:
        element["initial_date"] = chosen
    return element
