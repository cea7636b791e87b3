"""Client profile views: the new/edit modal, the client card, the paged list, confirmations."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any, Literal

from pydantic import Field

from bot.models import Client, ClientCommunication, ClientStatus, User
from bot.services.clients import (
    MAX_CONTACTS,
    ClientChoice,
    ClientPage,
    ClientSummary,
    DuplicateMatch,
)
from bot.storage import LOGO_MAX_SIDE
from views import health as health_views
from views.common import (
    MODAL_BLOCKS_MAX,
    ModalState,
    actions,
    button,
    context,
    divider,
    escape,
    fields_section,
    header,
    input_block,
    link,
    logo_context,
    mention,
    message,
    modal,
    option,
    phone,
    plain,
    read_value,
    section,
    slack_date,
    text_input,
    truncate,
)

FORM_CALLBACK = "client_form"
ADD_CONTACT_ACTION = "client_form_add_contact"
ADDRESS_ACTION = "client_form_add_address"
EDIT_ACTION = "client_edit"
LIST_PAGE_ACTION = "client_list_page"
NEW_CLIENT_ACTION = "client_new"
OPEN_ACTION = "client_open"
PICK_ACTION = "client_pick"  # handled by handlers/commands.py
JOBS_ACTION = "client_jobs"  # handled by handlers/jobs.py
LOG_ACTION = "comm_log_open"  # handled by handlers/communications.py
HISTORY_ACTION = "comm_history_open"
FEEDBACK_ACTION = "feedback_open"  # handled by handlers/feedback.py

STATUS_ICONS = {
    ClientStatus.ACTIVE.value: ":large_green_circle:",
    ClientStatus.ON_HOLD.value: ":large_yellow_circle:",
    ClientStatus.INACTIVE.value: ":white_circle:",
    ClientStatus.ARCHIVED.value: ":file_cabinet:",
}
_PROFILE_FIELDS = ("name", "industry", "website", "address", "city", "state", "country", "postal_code")
_ADDRESS_FIELDS = ("address", "city", "state", "postal_code")
_CONTACT_FIELDS = ("full_name", "title", "email", "phone", "mobile")
_CONTACT_BLOCK = {
    "full_name": "name",
    "title": "title",
    "email": "email",
    "phone": "phone",
    "mobile": "mobile",
}


# The form's block budget: every contact section is BLOCKS_PER_CONTACT blocks; the rest is the
# duplicate warning (3), the profile inputs, account manager, logo, the add-contact button and the
# note about contacts the form cannot hold. MAX_FORM_CONTACTS sections always fit in one modal, and
# the service refuses more active contacts than that (bot.services.clients.MAX_CONTACTS).
BLOCKS_PER_CONTACT = 8
DUPLICATES_SHOWN = 3  # each with its *Open* button
FIXED_FORM_BLOCKS = 3 + DUPLICATES_SHOWN + len(_PROFILE_FIELDS) + 4
MAX_FORM_CONTACTS = min(MAX_CONTACTS, (MODAL_BLOCKS_MAX - FIXED_FORM_BLOCKS) // BLOCKS_PER_CONTACT)


class ClientFormState(ModalState):
    """What the client modal carries in private_metadata (ids only, well under 3000 chars)."""

    mode: Literal["new", "edit"] = "new"
    client_id: uuid.UUID | None = None
    contact_ids: list[uuid.UUID] = Field(default_factory=list)
    contacts: int = 1
    hidden_contacts: int = 0  # active contacts beyond MAX_FORM_CONTACTS: not in the form, left unchanged
    response_url: str | None = None
    logo_file_ids: list[str] = Field(default_factory=list)
    show_address: bool = False  # a new client's address inputs stay folded until *Add address*


def _contact_block(index: int, field: str) -> str:
    return f"contact_{index}_{_CONTACT_BLOCK[field]}"


def client_form(
    *,
    state: ClientFormState,
    managers: list[User],
    values: dict[str, Any] | None = None,
    duplicates: list[DuplicateMatch] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The create/edit modal. `values` uses the ClientIn shape and prefills every input."""
    values = values or {}
    contacts = list(values.get("contacts") or [])
    blocks: list[dict[str, Any]] = []
    if duplicates:
        blocks.append(section(":warning: *This looks like a client we already have:*", block_id="duplicates"))
        blocks += [
            section(
                f"`{d.client_code}` *{escape(truncate(d.name, 200))}* ({escape(d.reason)})",
                accessory=button("Open", OPEN_ACTION, str(d.client_id)),
            )
            for d in duplicates[:DUPLICATES_SHOWN]
        ]
        more = len(duplicates) - DUPLICATES_SHOWN
        blocks += [
            input_block(
                "confirm_duplicate",
                "Create anyway?",
                {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [option("Yes, this is a different client", "confirm")],
                },
                optional=False,
                hint=f"{more} more look alike too." if more > 0 else None,
            ),
            divider(),
        ]
    blocks += [
        text_input(
            "name",
            "Client name",
            initial=values.get("name"),
            optional=False,
            max_length=255,
            placeholder="Acme Corporation",
        ),
        text_input(
            "industry",
            "Industry",
            initial=values.get("industry"),
            max_length=100,
            placeholder="Information Technology",
        ),
        text_input("website", "Website", initial=values.get("website"), kind="url_text_input"),
    ]
    if state.mode == "edit" or state.show_address or any(values.get(f) for f in _ADDRESS_FIELDS):
        blocks += [
            text_input("address", "Address", initial=values.get("address"), multiline=True, max_length=2000),
            text_input("city", "City", initial=values.get("city"), max_length=100),
            text_input("state", "State / region", initial=values.get("state"), max_length=100),
            text_input("postal_code", "Postal code", initial=values.get("postal_code"), max_length=20),
        ]
    else:
        blocks.append(actions(button("Add address", ADDRESS_ACTION), block_id="address_actions"))
    blocks += [
        text_input(
            "country",
            "Country",
            initial=values.get("country"),
            max_length=100,
            hint="Phone numbers without a +country code are read as numbers of this country.",
        ),
    ]
    if managers:
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": "value",
            "placeholder": plain("Choose an HR Manager or Admin"),
            "options": [option(m.display_name or m.slack_user_id, str(m.id)) for m in managers[:100]],
        }
        chosen = next((m for m in managers if str(m.id) == str(values.get("account_manager_id"))), None)
        if chosen:
            element["initial_option"] = option(chosen.display_name or chosen.slack_user_id, str(chosen.id))
        blocks.append(input_block("account_manager", "Account manager", element))
    else:
        blocks.append(context("No HR Managers yet: an admin can add one with `/client role @user manager`."))
    blocks.append(
        input_block(
            "logo",
            "Logo" if state.mode == "new" else "Replace logo",
            {"type": "file_input", "action_id": "value", "filetypes": ["png", "jpg", "jpeg"], "max_files": 1},
            hint=f"PNG or JPEG, up to 2 MB and {LOGO_MAX_SIDE}×{LOGO_MAX_SIDE} pixels."
            + (" A logo is already attached." if state.logo_file_ids else ""),
        )
    )
    for index in range(min(state.contacts, MAX_FORM_CONTACTS)):
        blocks += _contact_blocks(index, contacts[index] if index < len(contacts) else {}, state)
    if state.hidden_contacts:
        blocks.append(
            context(
                f"{state.hidden_contacts} more contact(s) do not fit in this form and stay unchanged "
                f"(at most {MAX_FORM_CONTACTS} active contacts): remove some here to edit the others."
            )
        )
    elif state.contacts < MAX_FORM_CONTACTS:
        blocks.append(actions(button("Add another contact", ADD_CONTACT_ACTION), block_id="contact_actions"))
    default_title = "New client" if state.mode == "new" else "Edit client"
    return modal(
        callback_id=FORM_CALLBACK,
        title=title or default_title,
        submit="Create" if state.mode == "new" else "Save",
        blocks=blocks,
        private_metadata=state.encode(),
    )


def _contact_blocks(index: int, contact: dict[str, Any], state: ClientFormState) -> list[dict[str, Any]]:
    required = index == 0 and state.mode == "new"
    existing = index < len(state.contact_ids)
    flags = [option("Primary contact", "primary")]
    if existing:
        flags.append(option("Remove this contact", "remove"))
    initial_flags = [o for o in flags if contact.get("is_primary" if o["value"] == "primary" else "remove")]
    flags_element: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": flags}
    if initial_flags:
        flags_element["initial_options"] = initial_flags
    label = f"Contact {index + 1}" + ("" if required else " (leave empty to skip)" if not existing else "")
    return [
        divider(),
        section(f"*{label}*", block_id=f"contact_{index}_header"),
        text_input(
            _contact_block(index, "full_name"),
            "Full name",
            initial=contact.get("full_name"),
            optional=not required,
            max_length=255,
        ),
        text_input(_contact_block(index, "title"), "Job title", initial=contact.get("title"), max_length=100),
        text_input(
            _contact_block(index, "email"),
            "Email",
            initial=contact.get("email"),
            optional=not required,
            kind="email_text_input",
        ),
        text_input(
            _contact_block(index, "phone"),
            "Phone",
            initial=contact.get("phone"),
            max_length=50,
            placeholder="+1 415 555 2671",
        ),
        text_input(_contact_block(index, "mobile"), "Mobile", initial=contact.get("mobile"), max_length=50),
        input_block(f"contact_{index}_flags", "Options", flags_element),
    ]


def _state_value(values: dict[str, Any], block_id: str) -> Any:
    element = (values.get(block_id) or {}).get("value") or {}
    kind = element.get("type")
    if kind == "static_select":
        return (element.get("selected_option") or {}).get("value")
    if kind == "checkboxes":
        return [o["value"] for o in element.get("selected_options") or []]
    if kind == "file_input":
        return element.get("files") or []
    return element.get("value")


def read_client_form(values: dict[str, Any], state: ClientFormState) -> tuple[dict[str, Any], list[int]]:
    """The modal's `view.state.values` as ClientIn input, and for each parsed contact the index of the
    form section it came from (empty extra contact sections are skipped)."""
    data: dict[str, Any] = {field: _state_value(values, field) for field in _PROFILE_FIELDS}
    data["account_manager_id"] = _state_value(values, "account_manager")
    contacts, sources = [], []
    for index in range(state.contacts):
        contact = {f: _state_value(values, _contact_block(index, f)) for f in _CONTACT_FIELDS}
        flags = _state_value(values, f"contact_{index}_flags") or []
        existing_id = state.contact_ids[index] if index < len(state.contact_ids) else None
        if existing_id is None and index > 0 and not any(contact.values()):
            continue
        contact |= {"is_primary": "primary" in flags, "remove": "remove" in flags, "id": existing_id}
        contacts.append(contact)
        sources.append(index)
    data["contacts"] = contacts
    return data, sources


def read_form_extras(values: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """(logo files chosen in the modal, whether the duplicate warning was confirmed)."""
    return _state_value(values, "logo") or [], "confirm" in (_state_value(values, "confirm_duplicate") or [])


def form_errors(fields: dict[str, str], sources: list[int]) -> dict[str, str]:
    """Service field names (`contacts.1.email`) -> the modal's block ids, for `response_action: errors`.
    `sources` maps parsed contact positions to form sections (from `read_client_form`)."""
    errors: dict[str, str] = {}
    for field, text in fields.items():
        parts = field.split(".")
        if parts[0] == "contacts" and len(parts) >= 2 and parts[1].isdigit():
            position = int(parts[1])
            index = sources[position] if position < len(sources) else 0
            sub = parts[2] if len(parts) > 2 else "full_name"
            block = (
                f"contact_{index}_flags"
                if sub in ("is_primary", "remove")
                else _contact_block(index, sub if sub in _CONTACT_BLOCK else "full_name")
            )
        elif parts[0] == "contacts":
            block = _contact_block(sources[0] if sources else 0, "full_name")
        elif field == "account_manager_id":
            block = "account_manager"
        elif field in (*_PROFILE_FIELDS, "logo", "confirm_duplicate"):
            block = field
        else:
            block = "name"
        errors.setdefault(block, truncate(text, 150))
    return errors


def form_contacts(client: Client) -> tuple[list[Any], int]:
    """The active contacts the edit form holds (the primary one first) and how many more there are."""
    active = sorted((c for c in client.contacts if c.is_active), key=lambda c: not c.is_primary)
    return active[:MAX_FORM_CONTACTS], max(0, len(active) - MAX_FORM_CONTACTS)


def edit_form_state(client: Client, *, response_url: str | None = None) -> ClientFormState:
    shown, hidden = form_contacts(client)
    return ClientFormState(
        mode="edit",
        client_id=client.id,
        contact_ids=[c.id for c in shown],
        contacts=max(1, len(shown)),
        hidden_contacts=hidden,
        response_url=response_url,
    )


def client_values(client: Client) -> dict[str, Any]:
    """An existing client in the form's `values` shape, for the edit modal (contacts in the order of
    `form_contacts`, the ones that fit)."""
    shown, _hidden = form_contacts(client)
    return {
        **{field: getattr(client, field) for field in _PROFILE_FIELDS},
        "account_manager_id": str(client.account_manager_id) if client.account_manager_id else None,
        "contacts": [
            {**{f: getattr(c, f) for f in _CONTACT_FIELDS}, "is_primary": c.is_primary} for c in shown
        ],
    }


def _location(client: Client | ClientSummary) -> str:
    return ", ".join(p for p in (client.city, client.state, client.country) if p)


def client_card(
    client: Client,
    *,
    can_edit: bool,
    follow_ups: list[ClientCommunication] | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    icon = STATUS_ICONS.get(client.status, "")
    manager = mention(client.account_manager.slack_user_id) if client.account_manager else "_unassigned_"
    blocks = [
        header(client.name),
        logo_context(
            client.logo_slack_file_id,
            f"`{client.client_code}` · {icon} {client.status} · created {slack_date(client.created_at)}",
        ),
        fields_section(
            [
                ("Industry", escape(client.industry)),
                ("Account manager", manager),
                ("Website", link(client.website) if client.website else ""),
                ("Location", escape(_location(client))),
            ]
        ),
    ]
    if client.deactivation_reason:
        blocks.append(context(f"{client.status.capitalize()} because: {escape(client.deactivation_reason)}"))
    active = [c for c in client.contacts if c.is_active]
    if active:
        lines = [_contact_line(c) for c in active[:10]]
        more = f"\n_…and {len(active) - 10} more_" if len(active) > 10 else ""
        blocks.append(section("*Contacts*\n" + "\n".join(lines) + more))
    else:
        blocks.append(context("No contacts yet."))
    if follow_ups:
        overdue = {r.id for r in follow_ups if today and r.follow_up_date and r.follow_up_date < today}
        lines = [
            f"{':red_circle:' if r.id in overdue else ':alarm_clock:'} {r.follow_up_date}"
            f" · {escape(truncate(r.subject or r.notes or '', 120))}"
            for r in follow_ups[:10]
        ]
        blocks.append(section("*Follow-ups due*\n" + "\n".join(lines)))
    client_id = str(client.id)
    buttons = [
        button("Log communication", LOG_ACTION, client_id),
        button("History", HISTORY_ACTION, client_id),
        button("Jobs", JOBS_ACTION, client_id),
        button("Feedback", FEEDBACK_ACTION, client_id),
    ]
    if can_edit:
        buttons.insert(0, button("Edit", EDIT_ACTION, str(client.id)))
    blocks.append(actions(*buttons, block_id=f"card_{client.id}"))
    return blocks


def _contact_line(contact: Any) -> str:
    star = ":star: " if contact.is_primary else "• "
    title = f", {escape(contact.title)}" if contact.title else ""
    phones = " · ".join(escape(phone(p)) for p in (contact.phone, contact.mobile) if p)
    return truncate(
        f"{star}*{escape(contact.full_name)}*{title} · {escape(contact.email)}"
        + (f" · {phones}" if phones else ""),
        280,
    )


def client_card_modal(client: Client, *, can_edit: bool, **card: Any) -> dict[str, Any]:
    return modal(
        callback_id="client_card",
        title=client.client_code,
        close="Close",
        blocks=client_card(client, can_edit=can_edit, **card),
    )


def client_card_message(client: Client, *, can_edit: bool, **card: Any) -> dict[str, Any]:
    return message(f"{client.name} ({client.client_code})", client_card(client, can_edit=can_edit, **card))


def created_message(client: Client, *, can_edit: bool, logo_note: str | None = None) -> dict[str, Any]:
    blocks = [section(f":white_check_mark: Created *{escape(client.name)}* as `{client.client_code}`.")]
    if logo_note:
        blocks.append(context(logo_note))
    return message(
        f"Created {client.name} ({client.client_code})", blocks + client_card(client, can_edit=can_edit)
    )


def duplicate_meanwhile_message(name: str, duplicates: list[DuplicateMatch]) -> dict[str, Any]:
    """The modal was submitted without a duplicate, but one was created while it was being saved."""
    lines = "\n".join(f"• `{d.client_code}` *{escape(d.name)}* ({d.reason})" for d in duplicates[:10])
    text = (
        f":warning: *{escape(name)}* was not created: while you were filling in the form, someone else "
        f"created what looks like the same client:\n{lines}\nIf yours is a different client, run "
        "`/client new` again and tick *Create anyway*."
    )
    return message(f"{name} was not created: it looks like a client that already exists", [section(text)])


def updated_message(client: Client, *, can_edit: bool) -> dict[str, Any]:
    blocks = [section(f":pencil2: Saved changes to *{escape(client.name)}* (`{client.client_code}`).")]
    return message(f"Updated {client.name}", blocks + client_card(client, can_edit=can_edit))


def status_changed_message(client: Client, old_status: str) -> dict[str, Any]:
    reason = f"\n>{escape(client.deactivation_reason)}" if client.deactivation_reason else ""
    text = (
        f"{STATUS_ICONS.get(client.status, '')} *{escape(client.name)}* (`{client.client_code}`) "
        f"is now *{client.status}* (was {old_status}).{reason}"
    )
    return message(f"{client.name} is now {client.status}", [section(text)])


def _pick_rows(
    query: str, choices: list[ClientChoice], command: tuple[str, str] | None
) -> list[dict[str, Any]]:
    """One line per client with a *Pick* button that runs `command` (sub-command, arguments as typed)
    again with that client's code in place of `query`, or shows the client."""
    name, args = command or ("show", query)
    rows = []
    for n, choice in enumerate(choices[:10]):
        value = json.dumps({"n": name, "a": args, "q": query, "c": choice.client_code}, ensure_ascii=False)
        if len(value) > 2000:  # a button's value holds 2000 characters: then the pick shows the client
            value = json.dumps({"n": "show", "a": choice.client_code, "q": "", "c": choice.client_code})
        rows.append(
            section(
                f"{STATUS_ICONS.get(choice.status, '')} *{escape(truncate(choice.name, 200))}*"
                f" `{choice.client_code}` · {choice.status}",
                accessory=button("Pick", f"{PICK_ACTION}_{n}", value),
            )
        )
    return rows


def run_button(
    text: str, name: str, args: str = "", *, n: str = "run", style: str | None = None
) -> dict[str, Any]:
    """A button that runs `/client NAME ARGS` for whoever clicks it (with all their checks)."""
    value = json.dumps({"n": name, "a": args[:1800]}, ensure_ascii=False)
    return button(text, f"{PICK_ACTION}_{n}", value, style=style)


def ambiguous_message(
    query: str, clients: list[ClientChoice], *, command: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Which client was meant: a *Pick* per match (see `_pick_rows`)."""
    intro = section(f"“{escape(truncate(query, 200))}” matches several clients. Which one did you mean?")
    return message(f"“{query}” matches several clients", [intro, *_pick_rows(query, clients, command)])


def unknown_client_message(
    text: str, query: str, suggestions: list[ClientChoice], *, command: tuple[str, str] | None = None
) -> dict[str, Any]:
    """No client matches: the clients spelled like it (a *Pick* each), and the list to search."""
    blocks = [section(f":warning: {escape(text)}" + (" Did you mean:" if suggestions else ""))]
    blocks += _pick_rows(query, suggestions, command)
    blocks.append(actions(run_button("Browse clients", "list", n="list")))
    return message(text, blocks)


def client_list(page: ClientPage, *, query: str, filters_text: str) -> dict[str, Any]:
    """One page of clients (20, as ClientSummary rows) with Previous/Next buttons that carry the filters,
    and each one's health (the page's, when it was read with it)."""
    title = f"*Clients* {escape(filters_text)}".strip() if filters_text else "*Clients*"
    if not page.clients:
        return message("No clients match", [section(f"{title}\nNo clients match these filters.")])
    blocks: list[dict[str, Any]] = [
        section(f"{title} · {page.total} found · page {page.page} of {page.pages}"),
        divider(),
    ]
    for client in page.clients:
        manager = mention(client.manager_slack_id) if client.manager_slack_id else "no account manager"
        details = " · ".join(p for p in (escape(client.industry), escape(_location(client))) if p)
        # escaped once, below
        who = f"{client.contact_name} <{client.contact_email}>" if client.contact_name else "no contact"
        blocks.append(
            section(
                f"{STATUS_ICONS.get(client.status, '')} *{escape(client.name)}* `{client.client_code}`\n"
                f"{details + ' · ' if details else ''}{manager} · {escape(who)}"
                + health_views.list_suffix((page.health or {}).get(client.id)),
                accessory=button("Open", OPEN_ACTION, str(client.id)),
            )
        )
    nav = []
    if page.page > 1:
        nav.append(button("◀ Previous", f"{LIST_PAGE_ACTION}_prev", _page_value(query, page.page - 1)))
    if page.page < page.pages:
        nav.append(button("Next ▶", f"{LIST_PAGE_ACTION}_next", _page_value(query, page.page + 1)))
    if nav:
        blocks.append(actions(*nav, block_id="client_list_nav"))
    return message(f"Clients: page {page.page} of {page.pages}", blocks)


def _page_value(query: str, page: int) -> str:
    return json.dumps({"q": query[:1800], "p": page})


def read_page_value(value: str) -> tuple[str, int]:
    data = read_value(value)
    return str(data.get("q", "")), int(data.get("p", 1))
