"""The client dashboard message and the App Home portfolio."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from bot.models import Client, ClientCommunication, User
from bot.roles import ROLE_TITLES
from bot.services.clients import primary_contact
from bot.services.dashboard import AgencyOverview, ClientRef, Dashboard, Home, PortfolioPage
from views import health as health_views
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
    client_label,
    context,
    divider,
    escape,
    exact_day,
    fields_section,
    header,
    link,
    logo_context,
    mention,
    message,
    money,
    option,
    phone,
    plain,
    read_value,
    relative_day,
    section,
    slack_date,
    truncate,
    when,
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
HOME_CLEAR_ACTION = "home_filter_clear"
HOME_DONE_ACTION = "home_follow_up_done"
HOME_SNOOZE_ACTION = "home_follow_up_snooze"
HOME_LOG_ACTION = "home_log"
TIMELINE_ICONS = {
    "job": ":briefcase:",
    "candidate": ":bust_in_silhouette:",
    "stage": ":arrow_right:",
    "hire": ":tada:",
    "communication": ":speech_balloon:",
    "feedback": ":star:",
}


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
        return money(value) if isinstance(value, Decimal) else str(value)

    parts = [
        f"{CHANGE_LABELS[c.figure]} {show(c.then)} → {show(c.now)}"
        + (f" ({'+' if c.delta > 0 else ''}{show(c.delta)})" if c.delta else "")
        for c in changes
    ]
    return [context(f":chart_with_upwards_trend: Since {d.since:%d %b %Y}: " + " · ".join(parts))]


# What the card's *More* menu offers (an overflow holds at most 5 options): kind -> (label, action_id of
# the listener it stands for). handlers/dashboard.py hands the click to that listener.
MORE_ACTION = "dashboard_more"
MANAGE_ACTION = "dashboard_manage"
MORE_OPTIONS = {
    "jobs": ("Jobs", JOBS_ACTION),
    "export": ("Export PDF", EXPORT_ACTION),
    "chart": ("Pipeline chart", CHART_ACTION),
    "share": ("Share in channel", SHARE_ACTION),
    "feedback_history": ("Feedback history", FEEDBACK_HISTORY_ACTION),
}
MANAGE_OPTIONS = {
    "feedback": ("Give feedback", FEEDBACK_ACTION),
    "edit": ("Edit profile", EDIT_ACTION),
}


def overflow(action_id: str, choices: dict[str, tuple[str, str]], value: str) -> dict[str, Any]:
    """An overflow menu whose options carry `kind:value` (e.g. `export:<client id>`)."""
    return {
        "type": "overflow",
        "action_id": action_id,
        "options": [option(label, f"{kind}:{value}") for kind, (label, _) in choices.items()],
    }


def _timeline_line(item: Any, text: str, *, author: bool) -> str:
    who = f" · {mention(item.author)}" if author and item.author else ""
    return (
        f"{TIMELINE_ICONS.get(item.kind, '•')} {slack_date(item.at, '{date_short_pretty}')}"
        f" {escape(truncate(text, 150))}{who}"
    )


def dashboard_message(
    d: Dashboard, *, shared: bool = False, can_edit: bool = False, external: bool = False
) -> dict[str, Any]:
    """The dashboard. `shared` is the copy posted for everyone: it leaves out private figures (revenue),
    follow-ups, the contact's email and phone, candidate names, subjects, feedback scores and health.
    `external` (a channel shared with another company, Slack Connect) leaves out the contact and the
    activity as well. One primary action (*Log communication*), *History*, and the rest in a *More* menu;
    profile changes in the card's own menu for HR Managers."""
    client, stats = d.client, d.stats
    manager = (
        mention(client.account_manager.slack_user_id) if client.account_manager else "no account manager"
    )
    contact = primary_contact(client)
    email = f" {link(f'mailto:{contact.email}', contact.email)}" if contact and not shared else ""
    number = (contact.phone or contact.mobile) if contact and not shared else None
    who = (
        f"{escape(contact.full_name)}{email}" + (f" · {escape(phone(number))}" if number else "")
        if contact
        else "no contact"
    )
    last = f"last contact {when(d.last_contact, d.today)}" if d.last_contact else "no contact logged yet"
    rate = f"{stats.offer_acceptance_rate:.0%}" if stats.offer_acceptance_rate is not None else "—"
    ttf = f"{stats.avg_time_to_fill_days:g} days" if stats.avg_time_to_fill_days is not None else "—"
    headline = [
        ("Active jobs", str(stats.active_jobs)),
        ("Total candidates", str(stats.total_candidates)),
        ("Placements", str(stats.placements)),
    ]
    if not shared:
        headline.append(("Revenue", money(stats.revenue)))
    client_id = str(client.id)
    card = context(f"Primary contact: {who}")
    if can_edit and not shared:
        card = section(
            f"Primary contact: {who}", accessory=overflow(MANAGE_ACTION, MANAGE_OPTIONS, client_id)
        )
    blocks: list[dict[str, Any]] = [
        header(client.name),
        logo_context(
            client.logo_slack_file_id,
            f"`{client.client_code}` · {STATUS_ICONS.get(client.status, '')} {client.status}"
            f" · {escape(client.industry or 'no industry')} · {manager} · {last}",
        ),
        *([] if shared and external else [card]),
        *([] if shared else health_views.card_line(d.health)),
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
            f"{':red_circle:' if r.follow_up_date < d.today else ':alarm_clock:'} "
            f"due {when(r.follow_up_date, d.today)} · {escape(truncate(r.subject or r.notes or '', 100))}"
            for r in d.follow_ups[:8]
        ]
        blocks.append(section("*Follow-ups due*\n" + "\n".join(lines)))
    blocks.append(divider())
    timeline = [(i, i.public if shared else i.text) for i in ([] if external else d.timeline)]
    if any(text for _, text in timeline):
        lines = [_timeline_line(i, text, author=not shared) for i, text in timeline[:12] if text]
        blocks.append(section("*Recent activity*\n" + "\n".join(lines)))
    elif not external:
        blocks.append(context("No activity yet."))
    if shared and external:
        blocks.append(
            context(":lock: Shared with another organisation: the contact and recent activity are left out.")
        )
    if not shared:
        blocks.append(
            actions(
                button("Log communication", LOG_ACTION, client_id, style="primary"),
                button("History", HISTORY_ACTION, client_id),
                overflow(MORE_ACTION, MORE_OPTIONS, client_id),
                block_id=f"dashboard_{client.id}",
            )
        )
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


def _follow_up_line(record: ClientCommunication, client: ClientRef, today: date) -> str:
    due = record.follow_up_date
    late = due is not None and due < today
    icon = ":red_circle:" if late else ":alarm_clock:"
    title = escape(truncate(record.subject or record.notes or "no subject", 120))
    return (
        f"{icon} *{client_label(client.name, client.code)}* · {title}\n"
        f"{'overdue, due' if late else 'due'} {when(due, today) if due else 'someday'}"
    )


def _my_follow_ups(board: Home, today: date) -> list[dict[str, Any]]:
    blocks = [section(f"*Your follow-ups* · {len(board.follow_ups)} due this week")]
    if not board.follow_ups:
        blocks[0] = section(
            "*Your follow-ups*\nNothing due this week. Log a call or meeting and set a follow-up date to"
            " see it here.",
            accessory=button("Log communication", HOME_LOG_ACTION),
        )
    for record, client in board.follow_ups:
        record_id = str(record.id)
        blocks += [
            section(_follow_up_line(record, client, today)),
            actions(
                button("Done", HOME_DONE_ACTION, record_id, style="primary"),
                button("Snooze 1 week", HOME_SNOOZE_ACTION, record_id),
                button("Log", LOG_ACTION, str(client.id)),
                block_id=f"home_follow_up_{record_id}",
            ),
        ]
    return blocks


def _recent_and_jobs(board: Home, today: date) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [divider()]
    if board.recent_clients:
        blocks.append(section("*Clients you logged lately*"))
        blocks += [
            section(
                f"*{client_label(r.client.name, r.client.code)}*\nlast contact {when(r.last_contact, today)}",
                accessory=button("Open", OPEN_ACTION, str(r.client.id)),
            )
            for r in board.recent_clients
        ]
    else:
        blocks.append(  # the follow-ups above offer *Log communication* when they are empty too
            section(
                "*Clients you logged lately*\nNone yet: what you log with `/client log CODE` brings the"
                " client here.",
                accessory=None if not board.follow_ups else button("Log communication", HOME_LOG_ACTION),
            )
        )
    if board.jobs:
        lines = [
            f":briefcase: *{escape(truncate(j.job.title, 80))}* `{escape(j.job.reference)}` · "
            + (client_label(j.client.name, j.client.code) if j.client else "no client")
            + f" · {j.in_pipeline} in pipeline · opened {relative_day(j.job.opened_at, today)}"
            for j in board.jobs
        ]
        blocks.append(section("*Jobs you own*\n" + "\n".join(lines)))
    else:
        blocks.append(context("*Jobs you own:* none open. `/client jobs CODE` lists a client's jobs."))
    return blocks


def _overview(o: AgencyOverview) -> list[dict[str, Any]]:
    rate = f" ({o.feedback_done / o.feedback_expected:.0%})" if o.feedback_expected else ""
    blocks = [
        section("*Agency overview*"),
        fields_section(
            [
                (f"{STATUS_ICONS.get(status, '')} {status.capitalize()}", str(n))
                for status, n in o.by_status.items()
            ]
            + [
                ("Without account manager", str(o.unassigned_count)),
                (
                    f"Feedback for {o.feedback_period}",
                    f"{o.feedback_done} of {o.feedback_expected} clients{rate}",
                ),
            ]
        ),
    ]
    if o.unassigned:
        names = ", ".join(client_label(c.name, c.code) for c in o.unassigned)
        more = o.unassigned_count - len(o.unassigned)
        blocks.append(
            context(
                f":bust_in_silhouette: No account manager: {names}"
                + (f" and {more} more" if more > 0 else "")
                + ". `/client bulk` reassigns them in one go."
            )
        )
    return blocks


def _portfolio(
    user: User, page: PortfolioPage, *, can_create: bool, filters: dict[str, Any], today: date
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if page.feedback_due:
        blocks += [
            divider(),
            section(f"*Feedback due for {page.feedback_period}* · {len(page.feedback_due)}"),
        ]
        blocks += [
            section(
                client_label(c.name, c.code), accessory=button("Give feedback", FEEDBACK_ACTION, str(c.id))
            )
            for c in page.feedback_due[:8]
        ]
        if len(page.feedback_due) > 8:
            more = ", ".join(client_label(c.name, c.code) for c in page.feedback_due[8:])
            blocks.append(context(truncate(f"Also due: {more}", 2900)))
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
    blocks += [
        divider(),
        section(f"*Your clients* · {page.total} · page {page.page} of {page.pages}"),
        actions(*controls, block_id="home_controls"),
    ]
    if not page.rows and filters:
        blocks.append(
            section(
                "No clients of yours match these filters.",
                accessory=button("Clear filters", HOME_CLEAR_ACTION),
            )
        )
    elif not page.rows:
        blocks.append(
            context(
                "You are not the account manager of any client yet."
                + (" Create one with *New client*, or" if can_create else "")
                + " ask an HR Admin to assign you clients (`/client bulk`)."
            )
        )
    for row in page.rows:
        client = row.client
        health = page.health.get(client.id)  # its line says the last contact
        last = f"last contact {when(row.last_activity, today)}" if row.last_activity else "no contact yet"
        blocks.append(
            section(
                f"{STATUS_ICONS.get(client.status, '')} *{client_label(client.name, client.client_code)}*\n"
                f":briefcase: {row.active_jobs} active jobs · :busts_in_silhouette: {row.in_pipeline}"
                f" in pipeline · :tada: {row.hires} hires"
                + (health_views.list_suffix(health) if health else f" · {last}"),
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
    return blocks


def home_view(
    user: User, board: Home, *, can_create: bool, filters: dict[str, Any], today: date
) -> dict[str, Any]:
    """The viewer's Home, by role: an HR Admin's agency overview; everyone's own follow-ups (Done, Snooze,
    Log); an HR Manager's feedback due and portfolio (filtered by status, industry and created dates, 20
    a page); clients the viewer logged lately and the jobs they own. Filters and page travel in the
    view's private_metadata."""
    blocks: list[dict[str, Any]] = [
        header("Your clients and follow-ups"),
        context(
            f"You are {ROLE_TITLES[user.role_enum]} · {exact_day(today)}"
            " · `/client help` lists what you can do"
        ),
    ]
    if user.is_guest:
        blocks.append(section("Slack guest accounts can't see client records."))
        return {"type": "home", "blocks": blocks, "private_metadata": "{}"}
    if board.overview:
        blocks += _overview(board.overview)
        blocks.append(divider())
    blocks += _my_follow_ups(board, today)
    page = board.portfolio
    if page and page.total == 0 and not filters and board.overview:
        page = None  # an HR Admin who manages no client themselves: the overview says enough
    if page:
        mine = {r.id for r, _ in board.follow_ups}
        others = [(r, c) for r, c in page.follow_ups if r.id not in mine]
        if others:
            blocks.append(
                context(
                    "*Also due on your clients:* "
                    + " · ".join(f"{_follow_up_line(r, c, today)}".replace("\n", ", ") for r, c in others[:5])
                )
            )
        blocks += _portfolio(user, page, can_create=can_create, filters=filters, today=today)
    blocks += _recent_and_jobs(board, today)
    metadata = {k: v for k, v in filters.items() if k in HOME_FILTERS} | {"page": page.page if page else 1}
    return {"type": "home", "blocks": blocks[:100], "private_metadata": json.dumps(metadata)[:3000]}


HOME_FILTERS = ("status", "industry", "from", "to")


def read_home_metadata(raw: str | None) -> tuple[dict[str, str], int]:
    """(filters, page) kept in a published Home view's private_metadata. Anything unreadable (an older
    or foreign Home, a bad date) is dropped rather than failing the Home."""
    try:
        data = read_value(raw or "{}")
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
