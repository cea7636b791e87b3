"""Client rules at the service layer: validation, codes, duplicates, roles, status and the audit trail."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import clock
from bot.errors import Ambiguous, DuplicateSuspected, NotFound, PermissionDenied, ValidationFailed
from bot.models import AuditLog, Client, ClientContact, ClientCount, ClientStatus, Role
from bot.services import clients, users
from bot.services.fields import normalize_company_name
from tests import factories


def test_contact_phone_numbers_are_stored_in_e164() -> None:
    data = clients.parse_client(
        factories.client_input(
            country="United Kingdom",
            contacts=[
                {
                    "full_name": "Ann",
                    "email": "ann@acme.co.uk",
                    "phone": "020 7946 0958",
                    "mobile": "07911 123456",
                }
            ],
        )
    )
    assert data.contacts[0].phone == "+442079460958"
    assert data.contacts[0].mobile == "+447911123456"
    assert data.contacts[0].is_primary  # a single contact is the primary one


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"website": "not a url"}, "website"),
        ({"contacts": []}, "contacts"),
        ({"contacts": [{"full_name": "A", "email": "nope"}]}, "contacts.0.email"),
        ({"contacts": [{"full_name": "", "email": "a@b.com"}]}, "contacts.0.full_name"),
        ({"contacts": [{"full_name": "A", "email": "a@b.com", "phone": "12"}]}, "contacts.0.phone"),
        ({"contacts": [{"full_name": "A", "email": "a@b.com", "mobile": "+1 999"}]}, "contacts.0.mobile"),
        (
            {"contacts": [{"full_name": "A", "email": "a@b.com"}, {"full_name": "B", "email": "b@b.com"}]},
            "contacts.0.is_primary",
        ),
        (
            {
                "contacts": [
                    {"full_name": "A", "email": "a@b.com", "is_primary": True},
                    {"full_name": "B", "email": "b@b.com", "is_primary": True},
                ]
            },
            "contacts.0.is_primary",
        ),
        ({"postal_code": "x" * 21}, "postal_code"),
    ],
)
def test_each_validation_error_names_its_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clients.parse_client(factories.client_input(**overrides))
    assert field in caught.value.fields, caught.value.fields


def test_website_without_scheme_is_accepted() -> None:
    assert clients.parse_client(factories.client_input(website="acme.com")).website == "https://acme.com"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ACME, Inc.", "Acme"),
        ("Acme LLC", "acme ltd"),
        ("Müller GmbH", "Muller"),
        ("The Acme Co.", "Acme"),
        ("Acme L.L.C.", "Acme"),
        ("Acme S.A.", "Acme"),
        ("ACME P.L.C.", "Acme"),
        ("Acme Inc.", "Acme"),
        ("Acme S.A", "Acme"),
        ("Acme Pty. Ltd.", "Acme"),
    ],
)
def test_name_normalisation_ignores_case_punctuation_and_legal_suffixes(a: str, b: str) -> None:
    assert normalize_company_name(a) == normalize_company_name(b)


async def test_codes_are_per_year_and_consecutive(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        first = await factories.client(session, admin, "One")
        second = await factories.client(session, admin, "Two")
        assert re.fullmatch(r"CLT-\d{4}-0001", first.client_code)
        assert second.client_code == first.client_code[:-4] + "0002"
        next_year = int(first.client_code[4:8]) + 1
        assert await clients.next_client_code(session, next_year) == f"CLT-{next_year}-0001"


async def test_fifty_concurrent_creations_get_fifty_consecutive_codes(db, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("concurrency proof runs on PostgreSQL (CI runs it)")
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)

    async def create(n: int) -> str:
        async with db.session() as session:
            actor = await users.get(session, admin.id)
            data = clients.parse_client(
                factories.client_input(
                    f"Parallel {n}",
                    website=None,
                    contacts=[{"full_name": f"P {n}", "email": f"p{n}@parallel{n}.example.com"}],
                )
            )
            return (await clients.create(session, actor=actor, data=data)).client_code

    codes = await asyncio.gather(*(create(n) for n in range(50)))
    numbers = sorted(int(code.rsplit("-", 1)[1]) for code in codes)
    assert len(set(codes)) == 50
    assert numbers == list(range(1, 51))


async def test_duplicates_by_name_and_company_domain_but_not_free_mail(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        existing = await factories.client(
            session,
            manager,
            "Acme Corporation",
            contacts=[{"full_name": "Jo", "email": "jo@acme.example.com"}],
            website=None,
        )
        by_name = clients.parse_client(
            factories.client_input(
                "ACME corp.", website=None, contacts=[{"full_name": "X", "email": "x@other.example.com"}]
            )
        )
        with pytest.raises(DuplicateSuspected) as caught:
            await clients.create(session, actor=manager, data=by_name)
        assert caught.value.matches[0].client_code == existing.client_code
        assert caught.value.matches[0].reason == "same name"

        by_domain = clients.parse_client(
            factories.client_input(
                "Totally Different",
                website=None,
                contacts=[{"full_name": "Y", "email": "y@ACME.example.com"}],
            )
        )
        matches = await clients.find_duplicates(session, by_domain)
        assert [m.reason for m in matches] == ["same domain acme.example.com"]

        free_mail = clients.parse_client(
            factories.client_input(
                "Other Ltd", website=None, contacts=[{"full_name": "Z", "email": "z@gmail.com"}]
            )
        )
        await factories.client(
            session,
            manager,
            "Gmail User Co",
            website=None,
            contacts=[{"full_name": "G", "email": "g@gmail.com"}],
        )
        assert await clients.find_duplicates(session, free_mail) == []

        confirmed = await clients.create(session, actor=manager, data=by_name, confirm_duplicate=True)
        assert confirmed.client_code != existing.client_code


async def test_recruiter_cannot_create_and_nothing_is_written(db) -> None:
    async with db.session() as session:
        recruiter = await factories.user(session, "URECRUITER")
        with pytest.raises(PermissionDenied, match="HR Manager"):
            await factories.client(session, recruiter)
        assert await session.scalar(select(func.count()).select_from(Client)) == 0


async def test_only_admins_deactivate_or_archive(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, admin, "Acme")
        for status in (ClientStatus.INACTIVE, ClientStatus.ARCHIVED):
            with pytest.raises(PermissionDenied, match="HR Admin"):
                await clients.change_status(
                    session, actor=manager, client_id=acme.id, status=status, reason="x"
                )
        on_hold = await clients.change_status(
            session, actor=manager, client_id=acme.id, status=ClientStatus.ON_HOLD, reason="budget freeze"
        )
        assert on_hold.status == "on-hold"
        with pytest.raises(ValidationFailed):
            await clients.deactivate(session, actor=admin, client_id=acme.id, reason="  ")
        gone = await clients.deactivate(session, actor=admin, client_id=acme.id, reason="Contract ended")
        assert (
            gone.status == "inactive" and gone.deactivated_at and gone.deactivation_reason == "Contract ended"
        )
        entries = list(
            await session.scalars(
                select(AuditLog).where(AuditLog.entity_id == acme.id).order_by(AuditLog.created_at)
            )
        )
        assert [e.action for e in entries] == [
            "client.created",
            "client.status_changed",
            "client.status_changed",
        ]
        assert entries[-1].before["status"] == "on-hold"
        assert entries[-1].after["deactivation_reason"] == "Contract ended"
        assert entries[-1].actor_id == admin.id


async def test_edit_updates_contacts_and_deactivates_removed_ones_with_audit(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(
            session,
            manager,
            "Acme",
            contacts=[
                {"full_name": "Jo", "email": "jo@acme.example.com", "is_primary": True},
                {"full_name": "Al", "email": "al@acme.example.com"},
            ],
        )
        jo, al = sorted(acme.contacts, key=lambda c: c.full_name, reverse=True)
        data = clients.parse_client(
            factories.client_input(
                "Acme Group",
                contacts=[
                    {
                        "id": jo.id,
                        "full_name": "Jo Smith",
                        "email": "jo@acme.example.com",
                        "is_primary": True,
                    },
                    {"id": al.id, "full_name": "Al", "email": "al@acme.example.com", "remove": True},
                    {"full_name": "New Person", "email": "new@acme.example.com"},
                ],
            )
        )
        updated = await clients.update(session, actor=manager, client_id=acme.id, data=data)
        assert updated.name == "Acme Group" and updated.client_code == acme.client_code
        by_name = {c.full_name: c for c in updated.contacts}
        assert (
            by_name["Jo Smith"].is_primary and not by_name["Al"].is_active and by_name["New Person"].is_active
        )
        assert await session.scalar(select(func.count()).select_from(ClientContact)) == 3  # nothing deleted
        actions = set(await session.scalars(select(AuditLog.action)))
        assert {"client.updated", "contact.updated", "contact.deactivated", "contact.created"} <= actions


async def test_find_by_code_name_and_ambiguity(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        one = await factories.client(session, admin, "Northwind Traders")
        await factories.client(session, admin, "Northwind Logistics", website=None)
        assert (await clients.find(session, one.client_code.lower())).id == one.id
        assert (await clients.find(session, "northwind traders inc")).id == one.id
        with pytest.raises(Ambiguous):
            await clients.find(session, "northwind")
        with pytest.raises(NotFound):
            await clients.find(session, "CLT-1999-0001")


async def test_account_manager_must_be_a_manager(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        await factories.user(session, "URECRUITER")
        with pytest.raises(ValidationFailed) as caught:
            await factories.client(session, admin, account_manager_id="URECRUITER")
        assert "account_manager_id" in caught.value.fields
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        acme = await factories.client(session, admin, account_manager_id="UMANAGER")
        assert acme.account_manager_id == manager.id


async def test_list_filters_and_pages(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        for n in range(45):
            await factories.client(
                session,
                admin,
                f"Client {n:02d}",
                website=None,
                industry="Health" if n % 3 == 0 else "Retail",
                account_manager_id="UMANAGER" if n < 10 else None,
                contacts=[{"full_name": "C", "email": f"c@c{n}.example.com"}],
            )
        page3 = await clients.list_clients(session, filters=clients.ClientFilter(), page=3)
        assert (page3.total, page3.pages, len(page3.clients)) == (45, 3, 5)
        past = await clients.list_clients(session, filters=clients.ClientFilter(), page=9)  # the last page
        assert (past.page, past.total, [c.name for c in past.clients]) == (
            3,
            45,
            [c.name for c in page3.clients],
        )
        nothing = await clients.list_clients(session, filters=clients.ClientFilter(search="no such"), page=2)
        assert (nothing.page, nothing.pages, nothing.total, nothing.clients) == (1, 1, 0, [])
        health = await clients.list_clients(session, filters=clients.ClientFilter(industry="health"))
        assert health.total == 15
        mine = await clients.list_clients(
            session, filters=clients.ClientFilter(account_manager_id=manager.id)
        )
        assert mine.total == 10


async def test_recruiter_cannot_deactivate_and_nothing_is_written(db) -> None:
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        recruiter = await factories.user(session, "URECRUITER")
        acme = await factories.client(session, admin, "Acme")
        with pytest.raises(PermissionDenied, match="HR Admin"):
            await clients.deactivate(session, actor=recruiter, client_id=acme.id, reason="Contract ended")
        stored = await session.get(Client, acme.id)
        assert stored.status == "active" and stored.deactivated_at is None
        assert (
            await session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.actor_id == recruiter.id)
            )
            == 0
        )


async def test_account_managers_are_real_slack_managers_only(db) -> None:
    from bot.services import users

    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        for service in ("api:0123456789ab", "cli:operator", "email:ingest"):
            await factories.user(session, service, Role.ADMIN)
        await factories.user(session, "URECRUITER")
        selectable = {u.slack_user_id for u in await users.account_managers(session)}
        assert selectable == {manager.slack_user_id, admin.slack_user_id}
        with pytest.raises(ValidationFailed) as caught:
            await factories.client(session, admin, account_manager_id="cli:operator")
        assert "account_manager_id" in caught.value.fields


async def test_more_active_contacts_than_the_edit_modal_holds_are_refused(db) -> None:
    from views.clients import MAX_FORM_CONTACTS

    many = [
        {"full_name": f"P{n}", "email": f"p{n}@acme.example.com", "is_primary": n == 0}
        for n in range(MAX_FORM_CONTACTS + 1)
    ]
    with pytest.raises(ValidationFailed) as caught:
        clients.parse_client(factories.client_input(contacts=many))
    assert "contacts" in caught.value.fields
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        acme = await factories.client(session, admin, "Acme", contacts=many[:MAX_FORM_CONTACTS])
        assert len(acme.contacts) == MAX_FORM_CONTACTS
        grown = clients.parse_client(
            factories.client_input(
                name="Acme",
                contacts=[{"full_name": "One more", "email": "more@acme.example.com", "is_primary": True}],
            )
        )
        with pytest.raises(ValidationFailed) as caught:
            await clients.update(session, actor=admin, client_id=acme.id, data=grown)
        assert "at most" in caught.value.fields["contacts"]


async def test_list_summaries_show_the_contact_and_manager_the_entities_give(db) -> None:
    """The Slack list reads rows (ClientSummary), not entities: each row names the same account manager and
    the same contact as `primary_contact` picks from the loaded entity: active only, a primary one first,
    else the oldest; none when every contact is inactive."""
    # (is_primary, is_active, minutes after the first) for each contact of a client
    shapes = [
        [(False, True, 0), (True, True, 5)],  # primary, though newer
        [(True, False, 0), (False, True, 5), (False, True, 9)],  # primary inactive: the oldest active
        [(False, False, 0)],  # nobody active
        [(True, False, 0), (False, False, 3)],
    ]
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        await factories.user(session, "UMANAGER", Role.MANAGER)
        base = clock.now()
        for n, shape in enumerate(shapes):
            made = await factories.client(
                session,
                admin,
                f"Shape {n}",
                website=None,
                account_manager_id="UMANAGER" if n % 2 else None,
                contacts=[
                    {"full_name": f"P{n}-{i}", "email": f"p{i}@s{n}.example.com", "is_primary": i == 0}
                    for i in range(len(shape))
                ],
            )
            contacts = sorted(
                await session.scalars(select(ClientContact).where(ClientContact.client_id == made.id)),
                key=lambda c: c.full_name,
            )
            for contact, (primary, active, minutes) in zip(contacts, shape, strict=True):
                contact.is_primary, contact.is_active = primary, active
                contact.created_at = base + timedelta(minutes=minutes)
    async with db.session() as session:
        rows = await clients.list_clients(
            session, filters=clients.ClientFilter(search="Shape"), summaries=True
        )
        entities = await clients.list_clients(session, filters=clients.ClientFilter(search="Shape"))
        picked = {r.name: (r.manager_slack_id, r.contact_name, r.contact_email) for r in rows.clients}
        expected = {}
        for client in entities.clients:
            contact = clients.primary_contact(client)
            manager = client.account_manager.slack_user_id if client.account_manager else None
            expected[client.name] = (
                manager,
                *((contact.full_name, contact.email) if contact else (None, None)),
            )
    assert picked == expected
    assert [picked[f"Shape {n}"][1] for n in range(4)] == ["P0-1", "P1-1", None, None]
    assert picked["Shape 1"][0] == picked["Shape 3"][0] == "UMANAGER" and picked["Shape 0"][0] is None


async def _totals(session, viewer) -> tuple[int, int, int]:
    """(the list's total, with status:active, with a search) as `viewer` sees them."""
    listed = await clients.list_clients(session, filters=clients.ClientFilter(), viewer=viewer)
    active = await clients.list_clients(
        session, filters=clients.ClientFilter(status=ClientStatus.ACTIVE), viewer=viewer
    )
    searched = await clients.list_clients(session, filters=clients.ClientFilter(search="Kept"), viewer=viewer)
    return listed.total, active.total, searched.total


async def test_the_list_total_follows_every_write_to_a_clients_status(db, is_postgres: bool) -> None:
    """Totals unfiltered or filtered by status come from the counts triggers keep per status (migration
    0022), other filters still count: both agree through creations, status moves both ways at once,
    archiving (recruiters don't see archived clients) and deletion."""
    async with db.session() as session:
        admin = await factories.user(session, "UADMIN", Role.ADMIN)
        recruiter = await factories.user(session, "URECRUITER", Role.RECRUITER)
        kept = [await factories.client(session, admin, f"Kept {n}", website=None) for n in range(6)]
        assert await _totals(session, admin) == (6, 6, 6)

    async def move(client_id, status: ClientStatus) -> None:
        async with db.session() as session:
            actor = await users.get(session, admin.id)
            await clients.change_status(session, actor=actor, client_id=client_id, status=status, reason="r")

    # two moves the other way round at once, twice over (on PostgreSQL, each locks both counts)
    await asyncio.gather(*(move(c.id, ClientStatus.ON_HOLD) for c in kept[:4]))
    await asyncio.gather(
        move(kept[0].id, ClientStatus.ACTIVE),
        move(kept[4].id, ClientStatus.ON_HOLD),
        move(kept[1].id, ClientStatus.ACTIVE),
        move(kept[5].id, ClientStatus.ON_HOLD),
    )
    await move(kept[2].id, ClientStatus.ARCHIVED)
    async with db.session() as session:
        assert await _totals(session, admin) == (6, 2, 6)
        assert await _totals(session, recruiter) == (5, 2, 5)
        await session.execute(Client.__table__.delete().where(Client.id == kept[3].id))
        assert await _totals(session, admin) == (5, 2, 5)
        counted = dict(
            (await session.execute(select(Client.status, func.count()).group_by(Client.status))).all()
        )
        kept_counts = dict((await session.execute(select(ClientCount.status, ClientCount.clients))).all())
        assert {s: n for s, n in kept_counts.items() if n} == counted
