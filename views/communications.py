"""Communication log views: the log modal (and its client-picking first step), progress and result
views, and the history timeline with download and archive actions."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from bot.models import Client, ClientCommunication, CommunicationType, Job

__all__ = ["HISTORY_ACTION", "LOG_ACTION"]
from bot.services.clients import ClientChoice, ClientRecord
from bot.services.communications import (
    MAX_ATTACHMENTS,
    SLACK_USER_ID,
    TYPE_LABELS,
    CommunicationRecord,
    HistoryEntry,
    HistoryPage,
)
from views.clients import HISTORY_ACTION, LOG_ACTION
from views.common import (
    ModalState,
    actions,
    button,
    client_label,
    context,
    divider,
    escape,
    header,
    input_block,
    link,
    mention,
    message,
    modal,
    option,
    plain,
    read_value,
    relative_day,
    section,
    slack_date,
    text_input,
    truncate,
)
from views.jobs import CLIENT_PICKER

PICK_CALLBACK = "comm_pick_client"
LOG_CALLBACK = "comm_log_form"
HISTORY_PAGE_ACTION = "comm_history_page"
ENTRY_MENU_ACTION = "comm_entry_menu"
ARCHIVE_ACTION = "comm_archive"
ARCHIVE_CANCEL_ACTION = "comm_archive_cancel"
OVERFLOW_OPTIONS = 5  # Slack's limit for an overflow menu
FILETYPES = ["pdf", "docx", "doc", "xlsx", "pptx", "txt", "png", "jpg", "jpeg", "eml"]
NOTES_INPUT_MAX = 3000
MENTION_TOKENS = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
TYPE_ICONS = {
    CommunicationType.MEETING.value: ":handshake:",
    CommunicationType.CALL.value: ":telephone_receiver:",
    CommunicationType.EMAIL.value: ":email:",
    CommunicationType.VIDEO_CALL.value: ":movie_camera:",
    CommunicationType.CONTRACT_SIGNED.value: ":memo:",
}


class LogFormState(ModalState):
    """Ids only: the client, where to confirm, and what a message shortcut carried over."""

    client_id: uuid.UUID | None = None
    response_url: str | None = None
    permalink: str | None = None
    participants: list[str] = []
    message_file_ids: list[str] = []
    from_message: bool = False
    supersedes_id: uuid.UUID | None = None


def pick_client_form(
    *, state: LogFormState, notes: str | None = None, suggested: ClientChoice | None = None
) -> dict[str, Any]:
    """Step one from a shortcut: which client (`suggested`: the one the message names, chosen already)
    and, from a message, the text to log."""
    picker: dict[str, Any] = {
        "type": "external_select",
        "action_id": CLIENT_PICKER,
        "min_query_length": 1,
        "placeholder": plain("Type a client name or code"),
    }
    if suggested:
        picker["initial_option"] = option(f"{suggested.client_code} · {suggested.name}", str(suggested.id))
    blocks = [
        input_block(
            "client",
            "Client",
            picker,
            optional=False,
            hint="The client the message names; pick another if it's someone else." if suggested else None,
        ),
    ]
    if state.from_message:
        blocks.append(
            text_input(
                "notes",
                "Message to log",
                initial=truncate(notes, NOTES_INPUT_MAX),
                multiline=True,
                max_length=NOTES_INPUT_MAX,
            )
        )
        if state.message_file_ids:
            blocks.append(
                context(
                    f":paperclip: {len(state.message_file_ids)} file(s) from the message will be attached."
                )
            )
    return modal(
        callback_id=PICK_CALLBACK,
        title="Log communication",
        submit="Next",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def log_form(
    *,
    state: LogFormState,
    client: Client,
    jobs: list[Job],
    initial: dict[str, Any] | None = None,
    error: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    initial = initial or {}
    blocks: list[dict[str, Any]] = []
    if error:
        blocks.append(section(f":warning: {escape(error)}", block_id="form_error"))
    blocks.append(
        context(
            f"Client: *{escape(client.name)}* `{client.client_code}`"
            + (" · this record corrects an earlier one, which stays as it was" if state.supersedes_id else "")
        )
    )
    chosen_type = initial.get("communication_type") or CommunicationType.MEETING.value
    types = [option(label, t.value) for t, label in TYPE_LABELS.items()]
    blocks += [
        input_block(
            "type",
            "Type",
            {
                "type": "static_select",
                "action_id": "value",
                "options": types,
                "initial_option": next(o for o in types if o["value"] == chosen_type),
            },
            optional=False,
        ),
        input_block(
            "when",
            "When",
            {
                "type": "datetimepicker",
                "action_id": "value",
                "initial_date_time": int((initial.get("communication_date") or now).timestamp()),
            },
            optional=False,
            hint="In your own Slack time zone.",
        ),
        input_block(
            "participants",
            "Participants from Slack",
            _users_element(initial.get("slack_participants") or state.participants),
        ),
        text_input(
            "external_participants",
            "Other participants",
            initial=initial.get("external_participants"),
            max_length=2000,
            placeholder="Jane Roe <jane@client.com>, John Smith",
            hint="Names or emails, separated by commas.",
        ),
        text_input("subject", "Subject", initial=initial.get("subject"), max_length=500),
        text_input(
            "notes",
            "Notes",
            initial=truncate(initial.get("notes"), NOTES_INPUT_MAX),
            multiline=True,
            max_length=NOTES_INPUT_MAX,
        ),
    ]
    if jobs:
        job_options = [option(f"{j.reference} · {j.title}", j.reference) for j in jobs[:100]]
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "value",
            "options": job_options,
            "placeholder": plain("Tag a job (optional)"),
        }
        picked = next((o for o in job_options if o["value"] == initial.get("job_id")), None)
        if picked:
            element["initial_option"] = picked
        blocks.append(input_block("job", "Related job", element))
    # One flag: a follow-up is what the date below says (no "Follow-up required" box to tick as well).
    flag_options = [option("Important", "important")]
    flags: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": flag_options}
    if initial.get("is_important"):
        flags["initial_options"] = flag_options
    follow_up: dict[str, Any] = {"type": "datepicker", "action_id": "value"}
    if initial.get("follow_up_date"):
        follow_up["initial_date"] = str(initial["follow_up_date"])
    blocks += [
        input_block("flags", "Flags", flags),
        input_block(
            "follow_up_date",
            "Follow up by",
            follow_up,
            hint="Pick a date to be reminded then; leave it empty when nothing needs following up.",
        ),
        input_block(
            "attachments",
            "Attachments",
            {
                "type": "file_input",
                "action_id": "value",
                "filetypes": FILETYPES,
                "max_files": MAX_ATTACHMENTS,
            },
            hint="Up to 10 files of at most 10 MB: PDF, Word, Excel, PowerPoint, text, PNG, JPEG, email.",
        ),
    ]
    if state.message_file_ids:
        blocks.append(
            context(f":paperclip: Also attached: {len(state.message_file_ids)} file(s) from the message.")
        )
    if state.permalink:
        blocks.append(
            context(f"{link(state.permalink, 'Link to the Slack message')} is kept with the record.")
        )
    return modal(
        callback_id=LOG_CALLBACK,
        title="Log communication",
        submit="Log",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def _users_element(users: list[str]) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "multi_users_select",
        "action_id": "value",
        "placeholder": plain("Colleagues who took part"),
    }
    if users:
        element["initial_users"] = users[:100]
    return element


def _state(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    return (values.get(block_id) or {}).get("value") or (values.get(block_id) or {}).get(CLIENT_PICKER) or {}


def read_log_form(values: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The log modal's state as CommunicationIn input (plus the raw fields to refill the form), and the
    files chosen in its file input."""
    flags = [o["value"] for o in _state(values, "flags").get("selected_options") or []]
    when = _state(values, "when").get("selected_date_time")
    slack_people = _state(values, "participants").get("selected_users") or []
    external = _state(values, "external_participants").get("value") or ""
    participants = [{"slack_user_id": u} for u in slack_people] + [
        _external(p) for p in external.split(",") if p.strip()
    ]
    data = {
        "communication_type": (_state(values, "type").get("selected_option") or {}).get("value"),
        "communication_date": datetime.fromtimestamp(when, UTC) if when else None,
        "participants": participants,
        "subject": _state(values, "subject").get("value"),
        "notes": _state(values, "notes").get("value"),
        "job_id": (_state(values, "job").get("selected_option") or {}).get("value"),
        "is_important": "important" in flags,
        "follow_up_date": _state(values, "follow_up_date").get("selected_date"),
        # kept to refill the form, ignored by the model
        "slack_participants": slack_people,
        "external_participants": external,
    }
    return data, _state(values, "attachments").get("files") or []


def names_for_mentions(text: str, names: dict[str, str]) -> str:
    """`<@U123>` / `<@U123|old>` in a message -> `@Display Name` (known people), for notes read as text."""
    return MENTION_TOKENS.sub(lambda m: f"@{names.get(m.group(1)) or m.group(1)}", text)


def _external(text: str) -> dict[str, Any]:
    """`Jane Roe <jane@x.com>`, `jane@x.com` or `Jane Roe` -> a participant."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, email = text[:-1].partition("<")
        return {"name": name.strip() or None, "email": email.strip()}
    return {"email": text} if "@" in text else {"name": text}


LOG_FIELDS = {
    "communication_type": "type",
    "communication_date": "when",
    "participants": "external_participants",
    "subject": "subject",
    "notes": "notes",
    "job_id": "job",
    "follow_up_date": "follow_up_date",
    "attachments": "attachments",
    "is_important": "flags",
    "follow_up_required": "flags",
}


def log_form_errors(fields: dict[str, str]) -> dict[str, str]:
    return {LOG_FIELDS.get(k.split(".")[0], "subject"): truncate(v, 150) for k, v in fields.items()}


def progress_view(text: str, *, done: bool = False) -> dict[str, Any]:
    """While attachments are checked and the record saved; `done` when it stopped without saving."""
    icon = ":warning:" if done else ":hourglass_flowing_sand:"
    return modal(
        callback_id="comm_progress",
        title="Log communication",
        close="Close",
        blocks=[section(f"{icon} {escape(text)}")],
    )


def logged_view(record: ClientCommunication, client: Client) -> dict[str, Any]:
    return modal(
        callback_id="comm_logged",
        title="Logged",
        close="Done",
        blocks=[section(_logged_text(record, client))],
    )


def _logged_text(record: ClientCommunication, client: Client) -> str:
    files = len(record.attachments or [])
    extra = f" with {files} attachment(s)" if files else ""
    return (
        f":white_check_mark: Logged {TYPE_LABELS[CommunicationType(record.communication_type)].lower()} "
        f"*{escape(record.subject or 'without subject')}* for *{escape(client.name)}* "
        f"(`{client.client_code}`){extra}."
    )


def logged_message(record: ClientCommunication, client: Client) -> dict[str, Any]:
    """The confirmation outside the modal (also when the user closed the modal before it was saved)."""
    return message(
        f"Logged a communication for {client.name}",
        [
            section(_logged_text(record, client)),
            context(f"It is in the timeline: `/client history {client.client_code}`"),
        ],
    )


def _participants(record: ClientCommunication | CommunicationRecord) -> str:
    names = []
    for person in record.participants or []:
        if person.get("slack_user_id"):
            names.append(mention(person["slack_user_id"]))
        else:
            names.append(escape(person.get("name") or person.get("email") or ""))
    return ", ".join(n for n in names[:10] if n) + (" …" if len(names) > 10 else "")


def _redacted(record: ClientCommunication | CommunicationRecord) -> str:
    """A personal-data erasure rewrote this record: when and by whom (a Slack user, else a label such as
    the API token's name)."""
    by = record.redacted_by or ""
    who = mention(by) if SLACK_USER_ID.fullmatch(by) else escape(by)
    when = slack_date(record.redacted_at, "{date_short}")
    return f":see_no_evil: personal data redacted on {when} by {who}"


def _entry_menu(entry: HistoryEntry, *, can_archive: bool) -> dict[str, Any] | None:
    record = entry.record
    options = [option("Log a correction", f"fix:{record.id}")]
    if can_archive and record.archived_at is None:
        options.append(option("Archive", f"ar:{record.id}"))
    files = record.attachments or []
    downloads = [
        option(f"Download {meta.get('name', 'file')}", f"dl:{record.id}:{i}") for i, meta in enumerate(files)
    ]
    if len(downloads) + len(options) > OVERFLOW_OPTIONS:  # one entry that sends them all, so none is lost
        downloads = [option(f"Download all {len(files)} files", f"dl:{record.id}:all")]
    return {"type": "overflow", "action_id": ENTRY_MENU_ACTION, "options": downloads + options}


def history_message(
    client: Client | ClientRecord, page: HistoryPage, *, query: str, described: str, can_archive: Any
) -> dict[str, Any]:
    """Newest first, 20 a page: icon, date, who logged it, subject, participants, flags, files."""
    blocks: list[dict[str, Any]] = [
        header(f"History · {client.name}"),
        context(
            f"`{client.client_code}` · {page.total} record(s) · page {page.page} of {page.pages}"
            + (f" · {escape(described)}" if described else "")
        ),
        divider(),
    ]
    if not page.entries:
        blocks.append(section("No communications match."))
    for entry in page.entries:
        record = entry.record
        flags = " ".join(
            f
            for f, on in (
                (":exclamation: important", record.is_important),
                (f":alarm_clock: follow up by {record.follow_up_date}", record.follow_up_required),
            )
            if on
        )
        title = escape(truncate(record.subject or (record.notes or "").split("\n")[0], 150)) or "_no subject_"
        text = (
            f"{TYPE_ICONS.get(record.communication_type, '')} *{title}*"
            f" · {slack_date(record.communication_date, '{date_short} {time}')}"
            + (f"\n{escape(truncate(record.notes, 280))}" if record.notes and record.subject else "")
        )
        block = section(text)
        menu = _entry_menu(entry, can_archive=can_archive(record))
        if menu:
            block["accessory"] = menu
        files = len(record.attachments or [])
        details = [f"by {mention(entry.logged_by)}"]
        if record.participants:
            details.append(f"with {_participants(record)}")
        if entry.job_reference:
            details.append(f"job `{entry.job_reference}`")
        if files:
            details.append(f":paperclip: {files}")
        if flags:
            details.append(flags)
        if record.source == "email-unverified":
            details.append(":warning: unverified sender")
        if record.supersedes_id:
            details.append("corrects an earlier record")
        if record.archived_at:
            details.append(":file_cabinet: archived")
        if record.redacted_at:
            details.append(_redacted(record))
        blocks += [block, context(truncate(" · ".join(details), 3000))]
    nav = []
    if page.page > 1:
        nav.append(
            button("◀ Newer", f"{HISTORY_PAGE_ACTION}_prev", _page_value(client.id, query, page.page - 1))
        )
    if page.page < page.pages:
        nav.append(
            button("Older ▶", f"{HISTORY_PAGE_ACTION}_next", _page_value(client.id, query, page.page + 1))
        )
    if nav:
        blocks.append(actions(*nav, block_id="comm_history_nav"))
    return message(f"History of {client.name}", blocks)


def _page_value(client_id: uuid.UUID, query: str, page: int) -> str:
    return json.dumps({"c": str(client_id), "q": query[:1500], "p": page})


def read_page_value(value: str) -> tuple[uuid.UUID, str, int]:
    data = read_value(value)
    return uuid.UUID(data["c"]), str(data.get("q", "")), int(data.get("p", 1))


def read_menu_value(value: str) -> tuple[str, uuid.UUID, int | None]:
    """`dl:<id>:<index>`, `dl:<id>:all` or `ar:<id>` -> (action, communication id, attachment index or None
    for all of them)."""
    kind, _, rest = value.partition(":")
    comm_id, _, index = rest.partition(":")
    return kind, uuid.UUID(comm_id), int(index) if index.isdigit() else None


def files_comment(names: list[str]) -> str:
    """The `initial_comment` of attachments handed back (their original names are user data)."""
    return f"Here is {escape(', '.join(names))}, as you asked."


def archive_prompt(record: ClientCommunication) -> dict[str, Any]:
    """Archive asks first (an overflow menu can't: Slack's confirm dialog covers all of its options)."""
    subject = escape(truncate(record.subject or "this record", 200))
    text = (
        f"Archive *{subject}*? It leaves the timeline for good; it stays in the audit trail and "
        "`/client history CODE archived` still lists it."
    )
    return message(
        "Archive this record?",
        [
            section(text),
            actions(
                button("Archive", ARCHIVE_ACTION, str(record.id), style="danger"),
                button("Keep it", ARCHIVE_CANCEL_ACTION),
            ),
        ],
    )


def archived_message(record: ClientCommunication) -> dict[str, Any]:
    text = f":file_cabinet: Archived *{escape(record.subject or 'the record')}*. It stays in the audit trail."
    return message("Archived", [section(text)])


FOLLOW_UP_DONE_ACTION = "follow_up_done"
FOLLOW_UP_SNOOZE_ACTION = "follow_up_snooze"


def nudge_message(items: list[tuple[ClientCommunication, Client]], today: Any) -> dict[str, Any]:
    """The morning DM: each follow-up due or overdue, with its client's name and code, Done and Snooze."""
    blocks: list[dict[str, Any]] = [section(f":alarm_clock: You have {len(items)} follow-up(s) due:")]
    for record, client in items[:20]:
        late = (today - record.follow_up_date).days if record.follow_up_date else 0
        due = "due today" if late <= 0 else f"*overdue, due {relative_day(record.follow_up_date, today)}*"
        title = escape(truncate(record.subject or record.notes or "no subject", 150))
        blocks += [
            section(f"*{client_label(client.name, client.client_code)}* · {title} · {due}"),
            actions(
                button("Done", FOLLOW_UP_DONE_ACTION, str(record.id), style="primary"),
                button("Snooze 1 week", FOLLOW_UP_SNOOZE_ACTION, str(record.id)),
                block_id=f"follow_up_{record.id}",
            ),
        ]
    if len(items) > 20:
        blocks.append(context(f"…and {len(items) - 20} more."))
    return message(f"{len(items)} follow-up(s) due", blocks)


def follow_up_result_message(record: ClientCommunication, *, snoozed: bool) -> dict[str, Any]:
    subject = escape(record.subject or "the follow-up")
    text = (
        f":zzz: Snoozed *{subject}* until {record.follow_up_snoozed_until}."
        if snoozed
        else f":white_check_mark: Done: *{subject}*."
    )
    return message("Follow-up updated", [section(text)])
