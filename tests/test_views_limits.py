"""Every view builder, fed the largest data it can get, stays within Slack's Block Kit limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bot.models import Client, ClientContact, Role, User
from bot.services.clients import ClientPage, DuplicateMatch
from tests.blockkit import validate_message, validate_view
from views import clients as client_views
from views.help import COMMANDS, help_message
from views.home import home_view
from views.users import role_changed_message

LONG = "x" * 5000


def _user(n: int = 0, role: Role = Role.MANAGER) -> User:
    return User(id=uuid.uuid4(), slack_user_id=f"U{n:08d}", display_name=LONG[:255], role=role.value)


def _client(n: int = 0, contacts: int = 20) -> Client:
    client = Client(
        id=uuid.uuid4(),
        client_code=f"CLT-2026-{n:04d}",
        name="N" * 255,
        industry="I" * 100,
        website="https://" + "w" * 200 + ".com",
        city="C" * 100,
        state="S" * 100,
        country="K" * 100,
        status="inactive",
        deactivation_reason=LONG,
        created_at=datetime.now(UTC),
        account_manager=_user(n),
    )
    client.contacts = [
        ClientContact(
            id=uuid.uuid4(),
            full_name="F" * 255,
            title="T" * 100,
            email="e" * 60 + "@x.com",
            phone="+442079460958",
            mobile="+447911123456",
            is_primary=i == 0,
            is_active=True,
        )
        for i in range(contacts)
    ]
    return client


def test_client_form_at_its_largest() -> None:
    managers = [_user(n) for n in range(150)]
    client = _client()
    state = client_views.ClientFormState(
        mode="edit",
        client_id=client.id,
        contact_ids=[c.id for c in client.contacts][:8],
        contacts=client_views.MAX_FORM_CONTACTS,
        response_url="https://hooks.slack.com/commands/" + "x" * 200,
        logo_file_ids=["F" + "0" * 10],
    )
    duplicates = [DuplicateMatch(uuid.uuid4(), "CLT-2026-0001", "D" * 255, "same domain " + "d" * 200)] * 12
    values = client_views.client_values(client)
    values["account_manager_id"] = str(managers[0].id)
    validate_view(
        client_views.client_form(
            state=state, managers=managers, values=values, duplicates=duplicates, title="Edit CLT-2026-0001"
        )
    )
    validate_view(client_views.client_form(state=client_views.ClientFormState(), managers=[]))


def test_client_messages_at_their_largest() -> None:
    client = _client()
    validate_message(client_views.client_card_message(client, can_edit=True))
    validate_view(client_views.client_card_modal(client, can_edit=True))
    validate_message(client_views.created_message(client, can_edit=True, logo_note=LONG))
    validate_message(client_views.updated_message(client, can_edit=True))
    validate_message(client_views.status_changed_message(client, "active"))
    validate_message(client_views.ambiguous_message(LONG, [_client(n, 0) for n in range(30)]))
    page = ClientPage(clients=[_client(n, 3) for n in range(20)], total=1000, page=2, pages=50, per_page=20)
    validate_message(client_views.client_list(page, query=LONG, filters_text=LONG))


def test_home_help_and_roles_at_their_largest() -> None:
    validate_view(home_view(_user(), [_client(n, 0) for n in range(200)], total=200, can_create=True))
    validate_message(help_message(list(COMMANDS), intro=LONG))
    validate_message(role_changed_message(_user()))
