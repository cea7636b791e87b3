"""Every view builder, fed the largest data it can get, stays within Slack's Block Kit limits."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from bot.models import Client, ClientCommunication, ClientContact, Job, Role, User
from bot.services.analytics import JobAnalytics
from bot.services.clients import ClientPage, ClientSummary, DuplicateMatch
from bot.services.dashboard import (
    AgencyOverview,
    ClientRef,
    Dashboard,
    Home,
    OwnedJob,
    PortfolioPage,
    PortfolioRow,
    RecentClient,
    TimelineItem,
)
from tests.blockkit import validate_message, validate_view
from views import clients as client_views
from views.dashboard import dashboard_message, home_view
from views.help import COMMANDS, help_message
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


def _ids(view: dict) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def test_client_form_at_its_largest() -> None:
    """The most contacts the form holds, every field at its longest, the duplicate warning, 150
    managers: every contact section is there (nothing cut at 100 blocks) and within the limits."""
    from bot.services.clients import MAX_CONTACTS

    assert client_views.MAX_FORM_CONTACTS == MAX_CONTACTS  # the service allows what the form holds
    managers = [_user(n) for n in range(150)]
    for hidden in (0, 10):
        client = _client(contacts=client_views.MAX_FORM_CONTACTS + hidden)
        state = client_views.edit_form_state(
            client, response_url="https://hooks.slack.com/commands/" + "x" * 200
        )
        state.logo_file_ids = ["F" + "0" * 10]
        assert state.contacts == client_views.MAX_FORM_CONTACTS and state.hidden_contacts == hidden
        duplicates = [
            DuplicateMatch(uuid.uuid4(), "CLT-2026-0001", "D" * 255, "same domain " + "d" * 200)
        ] * 12
        values = client_views.client_values(client)
        values["account_manager_id"] = str(managers[0].id)
        view = client_views.client_form(
            state=state, managers=managers, values=values, duplicates=duplicates, title="Edit CLT-2026-0001"
        )
        validate_view(view)
        blocks = _ids(view)
        last = client_views.MAX_FORM_CONTACTS - 1
        assert f"contact_{last}_flags" in blocks and f"contact_{last + 1}_header" not in blocks
        assert len(view["blocks"]) <= 100
        if hidden:  # the contacts that do not fit are named, not silently dropped
            assert "10 more contact(s)" in json.dumps(view) and "contact_actions" not in blocks
    # A new client grown to the maximum with "Add another contact".
    grown = client_views.ClientFormState(contacts=client_views.MAX_FORM_CONTACTS)
    view = client_views.client_form(state=grown, managers=managers)
    validate_view(view)
    assert f"contact_{client_views.MAX_FORM_CONTACTS - 1}_flags" in _ids(view)
    validate_view(client_views.client_form(state=client_views.ClientFormState(), managers=[]))


def test_client_messages_at_their_largest() -> None:
    client = _client()
    validate_message(client_views.client_card_message(client, can_edit=True))
    validate_view(client_views.client_card_modal(client, can_edit=True))
    validate_message(client_views.created_message(client, can_edit=True, logo_note=LONG))
    validate_message(client_views.updated_message(client, can_edit=True))
    validate_message(client_views.status_changed_message(client, "active"))
    validate_message(client_views.ambiguous_message(LONG, [_client(n, 0) for n in range(30)]))
    summaries = [
        ClientSummary(
            c.id, c.client_code, c.name, c.status, c.industry, c.city, c.state, c.country, "U" * 32, *who
        )
        for n in range(20)
        for c in [_client(n, 3)]
        for who in [("F" * 255, "e" * 60 + "@x.com")]
    ]
    page = ClientPage(clients=summaries, total=1000, page=2, pages=50, per_page=20)
    validate_message(client_views.client_list(page, query=LONG, filters_text=LONG))


def _board(client: Client) -> Dashboard:
    comm = ClientCommunication(id=uuid.uuid4(), subject=LONG, notes=LONG, follow_up_date=date(2026, 1, 1))
    stats = JobAnalytics(
        avg_time_to_fill_days=12.5,
        median_time_to_fill_days=10.0,
        avg_quality_score=3.3,
        offer_acceptance_rate=0.5,
        revenue=Decimal("123456789.99"),
    )
    items = [TimelineItem(datetime.now(UTC), kind, LONG) for kind in ("job", "hire", "feedback") * 10]
    return Dashboard(
        client=client,
        stats=stats,
        follow_ups=[comm] * 20,
        timeline=items,
        hires_by_month=[("2026-01", 3)] * 12,
        today=date(2026, 6, 1),
    )


def test_dashboard_at_its_largest() -> None:
    board = _board(_client())
    validate_message(dashboard_message(board, can_edit=True))
    validate_message(dashboard_message(board, shared=True))


def test_home_help_and_roles_at_their_largest() -> None:
    comm = ClientCommunication(id=uuid.uuid4(), subject=LONG, follow_up_date=date(2026, 1, 1))
    rows = [PortfolioRow(_client(n, 0), 10**6, 10**6, 10**6, datetime.now(UTC)) for n in range(20)]
    industries = [f"Industry {n} " + "x" * 90 for n in range(150)]
    ref = ClientRef(uuid.uuid4(), LONG[:255], "CLT-2026-0001")
    page = PortfolioPage(rows, 1000, 2, 50, [(comm, ref)] * 20, [ref] * 100, "2026-Q3", industries)
    job = Job(id=uuid.uuid4(), reference="R" * 50, title=LONG[:255], opened_at=datetime.now(UTC))
    overview = AgencyOverview({"active": 10**6, "on-hold": 1}, [ref] * 10, 10**6, "2026-Q3", 5, 10)
    mine = [
        (ClientCommunication(id=uuid.uuid4(), subject=LONG, follow_up_date=date(2026, 1, 1)), ref)
        for _ in range(10)
    ]
    board = Home(
        mine,
        [RecentClient(ref, datetime.now(UTC))] * 5,
        [OwnedJob(job, ref, 10**6)] * 10,
        page,
        overview,
    )
    chosen = {"status": "archived", "industry": industries[3], "from": "2026-01-01", "to": "2026-12-31"}
    for filters in ({}, chosen):
        validate_view(home_view(_user(), board, can_create=True, filters=filters, today=date(2026, 6, 1)))
    validate_message(help_message(list(COMMANDS), intro=LONG))
    validate_message(role_changed_message(_user()))
