"""Jobs views: the new-job and link modals, a client's jobs with pipeline counts, a job's candidates."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bot.models import Application, Candidate, Client, Job, JobStatus, Stage
from bot.services.analytics import JobAnalytics
from bot.services.jobs import JobPage, LinkResult
from views.clients import JOBS_ACTION
from views.common import (
    ModalState,
    actions,
    button,
    context,
    divider,
    escape,
    fields_section,
    header,
    input_block,
    message,
    modal,
    money,
    option,
    plain,
    read_value,
    section,
    slack_date,
    text_input,
)

JOB_FORM_CALLBACK = "job_form"
LINK_FORM_CALLBACK = "job_link_form"
CLIENT_PICKER = "client_picker"
JOB_PICKER = "job_picker"
JOBS_PAGE_ACTION = "client_jobs_page"
OPEN_JOBS_ACTION = JOBS_ACTION
CANDIDATES_ACTION = "job_candidates"
LINK_ACTION = "client_link_jobs"

STAGE_ICONS = {
    Stage.SCREENED.value: ":mag:",
    Stage.SHORTLISTED.value: ":clipboard:",
    Stage.INTERVIEWED.value: ":speech_balloon:",
    Stage.OFFERED.value: ":envelope_with_arrow:",
    Stage.HIRED.value: ":tada:",
    Stage.REJECTED.value: ":x:",
}
JOB_STATUS_ICONS = {
    JobStatus.OPEN.value: ":large_green_circle:",
    JobStatus.ON_HOLD.value: ":large_yellow_circle:",
    JobStatus.FILLED.value: ":white_check_mark:",
    JobStatus.CANCELLED.value: ":no_entry_sign:",
}


class JobFormState(ModalState):
    response_url: str | None = None


class LinkFormState(ModalState):
    client_id: uuid.UUID
    response_url: str | None = None


def client_option(client: Client) -> dict[str, Any]:
    return option(f"{client.client_code} · {client.name}", str(client.id))


def job_option(job: Job) -> dict[str, Any]:
    return option(f"{job.reference} · {job.title}", job.reference)


def job_form(*, state: JobFormState, client: Client | None = None) -> dict[str, Any]:
    picker: dict[str, Any] = {
        "type": "external_select",
        "action_id": CLIENT_PICKER,
        "min_query_length": 1,
        "placeholder": plain("Type a client name or code"),
    }
    if client is not None:
        picker["initial_option"] = client_option(client)
    status = {
        "type": "static_select",
        "action_id": "value",
        "options": [option(s.value, s.value) for s in JobStatus],
        "initial_option": option(JobStatus.OPEN.value, JobStatus.OPEN.value),
    }
    blocks = [
        text_input(
            "title", "Job title", optional=False, max_length=255, placeholder="Senior Backend Engineer"
        ),
        input_block("client", "Client", picker, hint="The job is linked to this client as it is created."),
        text_input("reference", "Reference", max_length=50, placeholder="Left empty: JOB-YYYY-NNNN"),
        input_block(
            "openings",
            "Openings",
            {
                "type": "number_input",
                "action_id": "value",
                "is_decimal_allowed": False,
                "initial_value": "1",
                "min_value": "1",
                "max_value": "1000",
            },
            optional=False,
        ),
        input_block(
            "fee",
            "Placement fee",
            {"type": "number_input", "action_id": "value", "is_decimal_allowed": True, "min_value": "0"},
        ),
        input_block(
            "salary",
            "Salary",
            {"type": "number_input", "action_id": "value", "is_decimal_allowed": True, "min_value": "0"},
        ),
        input_block("status", "Status", status, optional=False),
    ]
    return modal(
        callback_id=JOB_FORM_CALLBACK,
        title="New job",
        submit="Create",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def _value(values: dict[str, Any], block_id: str, action_id: str = "value") -> Any:
    element = (values.get(block_id) or {}).get(action_id) or {}
    if "selected_option" in element:
        return (element.get("selected_option") or {}).get("value")
    if "selected_options" in element:
        return [o["value"] for o in element.get("selected_options") or []]
    return element.get("value")


def read_job_form(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": _value(values, "title"),
        "client_id": _value(values, "client", CLIENT_PICKER),
        "reference": _value(values, "reference"),
        "openings": _value(values, "openings") or 1,
        "fee": _value(values, "fee"),
        "salary": _value(values, "salary"),
        "status": _value(values, "status") or JobStatus.OPEN.value,
    }


JOB_FORM_FIELDS = {
    "title": "title",
    "client_id": "client",
    "reference": "reference",
    "openings": "openings",
    "fee": "fee",
    "salary": "salary",
    "status": "status",
}


def job_form_errors(fields: dict[str, str]) -> dict[str, str]:
    return {JOB_FORM_FIELDS.get(k.split(".")[0], "title"): v[:150] for k, v in fields.items()}


def link_form(*, state: LinkFormState, client: Client) -> dict[str, Any]:
    picker = {
        "type": "multi_external_select",
        "action_id": JOB_PICKER,
        "min_query_length": 1,
        "max_selected_items": 100,
        "placeholder": plain("Type a job reference or title"),
    }
    blocks = [
        section(f"Link jobs to *{escape(client.name)}* (`{client.client_code}`)."),
        input_block("jobs", "Jobs", picker, optional=False),
        input_block(
            "move",
            "Jobs linked to another client",
            {
                "type": "checkboxes",
                "action_id": "value",
                "options": [option("Move them to this client", "move")],
            },
        ),
    ]
    return modal(
        callback_id=LINK_FORM_CALLBACK,
        title="Link jobs",
        submit="Link",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def read_link_form(values: dict[str, Any]) -> tuple[list[str], bool]:
    return _value(values, "jobs", JOB_PICKER) or [], "move" in (_value(values, "move") or [])


def _pipeline_line(pipeline: dict[str, int]) -> str:
    return "  ".join(f"{STAGE_ICONS[s]} {n}" for s, n in pipeline.items() if n) or "no candidates yet"


def _money(value: Any) -> str:
    return money(value)  # CLIENTBOT_CURRENCY; "—" when there is none


def analytics_fields(stats: JobAnalytics) -> dict[str, Any]:
    rate = f"{stats.offer_acceptance_rate:.0%}" if stats.offer_acceptance_rate is not None else "—"
    ttf = (
        f"{stats.avg_time_to_fill_days:g} d (median {stats.median_time_to_fill_days:g})"
        if stats.avg_time_to_fill_days is not None
        else "—"
    )
    quality = f"{stats.avg_quality_score:g} / 5" if stats.avg_quality_score is not None else "—"
    return fields_section(
        [
            ("Active jobs", f"{stats.active_jobs} of {stats.total_jobs}"),
            ("Open positions", str(stats.open_positions)),
            ("Candidates", str(stats.total_candidates)),
            ("Placements", str(stats.placements)),
            ("Time to fill", ttf),
            ("Candidate quality", quality),
            ("Offer acceptance", rate),
            ("Revenue", _money(stats.revenue)),
        ]
    )


def jobs_blocks(client: Client, page: JobPage, stats: JobAnalytics | None, *, can_link: bool) -> list[dict]:
    blocks: list[dict[str, Any]] = [
        header(f"Jobs · {client.name}"),
        context(f"`{client.client_code}` · {page.total} jobs · page {page.page} of {page.pages}"),
    ]
    if stats is not None:
        blocks.append(analytics_fields(stats))
    blocks.append(divider())
    if not page.rows:
        blocks.append(section("No jobs are linked to this client yet."))
    for row in page.rows:
        job = row.job
        blocks.append(
            section(
                f"{JOB_STATUS_ICONS.get(job.status, '')} *{escape(job.title)}* `{job.reference}`"
                f" · {job.status} · opened {slack_date(job.opened_at)}\n{_pipeline_line(row.pipeline)}",
                accessory=button("Candidates", CANDIDATES_ACTION, str(job.id)),
            )
        )
    nav = []
    if page.page > 1:
        nav.append(button("◀ Previous", f"{JOBS_PAGE_ACTION}_prev", _jobs_value(client.id, page.page - 1)))
    if page.page < page.pages:
        nav.append(button("Next ▶", f"{JOBS_PAGE_ACTION}_next", _jobs_value(client.id, page.page + 1)))
    if can_link:
        nav.append(button("Link jobs", LINK_ACTION, str(client.id)))
    if nav:
        blocks.append(actions(*nav, block_id="client_jobs_nav"))
    return blocks


def _jobs_value(client_id: uuid.UUID, page: int) -> str:
    return json.dumps({"c": str(client_id), "p": page})


def read_jobs_value(value: str) -> tuple[uuid.UUID, int]:
    data = read_value(value)
    return uuid.UUID(data["c"]), int(data["p"])


def jobs_message(client: Client, page: JobPage, stats: JobAnalytics, *, can_link: bool) -> dict[str, Any]:
    return message(f"Jobs of {client.name}", jobs_blocks(client, page, stats, can_link=can_link))


def jobs_modal(client: Client, page: JobPage, stats: JobAnalytics, *, can_link: bool) -> dict[str, Any]:
    return modal(
        callback_id="client_jobs",
        title="Jobs",
        close="Back",
        blocks=jobs_blocks(client, page, stats, can_link=can_link),
    )


def candidates_modal(job: Job, rows: list[tuple[Application, Candidate]]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        header(job.title),
        context(f"`{job.reference}` · {job.status} · {job.openings} opening(s) · {len(rows)} candidate(s)"),
    ]
    for stage in Stage:
        people = [(a, c) for a, c in rows if a.stage == stage.value]
        if not people:
            continue
        lines = [
            f"• {escape(c.full_name)}"
            + (f" · {'★' * a.quality_score}" if a.quality_score else "")
            + f" · since {slack_date(a.stage_changed_at)}"
            for a, c in people[:40]
        ]
        more = f"\n_…and {len(people) - 40} more_" if len(people) > 40 else ""
        blocks.append(
            section(
                f"{STAGE_ICONS[stage.value]} *{stage.value.capitalize()}* ({len(people)})\n"
                + "\n".join(lines)
                + more
            )
        )
    if not rows:
        blocks.append(section("No candidates in this job's pipeline yet."))
    return modal(callback_id="job_candidates", title="Candidates", close="Back", blocks=blocks[:100])


def job_created_message(job: Job, client: Client | None) -> dict[str, Any]:
    where = f" for *{escape(client.name)}* (`{client.client_code}`)" if client else ""
    return message(
        f"Created {job.reference}",
        [
            section(f":white_check_mark: Created job *{escape(job.title)}* `{job.reference}`{where}."),
        ],
    )


def link_result_message(client: Client, result: LinkResult, *, unlinked: str | None = None) -> dict[str, Any]:
    lines = []
    if unlinked:
        lines.append(
            f":link: Unlinked `{unlinked}` from *{escape(client.name)}*. The link stays in the history."
        )
    if result.linked:
        lines.append(
            f":link: Linked to *{escape(client.name)}*: " + ", ".join(f"`{r}`" for r in result.linked[:100])
        )
    if result.already:
        lines.append("Already linked: " + ", ".join(f"`{r}`" for r in result.already[:100]))
    if result.conflicts:
        lines.append(
            ":warning: Linked to another client (not moved): "
            + ", ".join(f"`{r}` → {c}" for r, c in result.conflicts[:50])
            + f"\nTo move them, run `/client link {client.client_code} --move JOB…`."
        )
    if result.not_found:
        lines.append(":grey_question: No such job: " + ", ".join(f"`{r}`" for r in result.not_found[:100]))
    return message(f"Jobs of {client.name}", [section("\n".join(lines) or "Nothing to do.")])
