"""`clientbot import clients|communications`: CRM exports and spreadsheets in any of the usual encodings,
validated like the modal, duplicates skipped (or merged with --update), re-runs writing nothing new."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot import clock
from bot.models import AuditLog, Client, ClientCommunication, ClientContact, Role
from bot.services import client_imports
from tests import factories
from tests.test_imports import run_cli

HUBSPOT_HEADER = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Job Title",
    "Company name",
    "Company Domain Name",
    "City",
    "State/Region",
    "Country/Region",
    "Postal Code",
]
HUBSPOT_ROWS = [
    ["101", "Amélie", "Durand", "amelie.durand@societegenerale.fr", "01 42 14 20 00", "DRH",
     "Société Générale", "societegenerale.fr", "Paris", "Île-de-France", "France", "75009"],
    ["102", "Jean", "Martin", "jean.martin@societegenerale.fr", "", "Recruteur", "Société Générale",
     "societegenerale.fr", "Paris", "Île-de-France", "France", "75009"],
    ["103", "Peter", "Gibbons", "peter@initech.example.com", "", "", "Initech", "initech.example.com", "", "",
     "", ""],
    ["104", "Hank", "Scorpio", "hank@globex.example.com", "12345", "CEO", "Globex", "globex.example.com", "",
     "", "United States", ""],
    ["105", "Ann", "Umbrella", "ann@umbrella", "", "", "Umbrella", "umbrella.example.com", "", "", "", ""],
    ["106", "Gavin", "Belson", "gavin@hooli.example.com", "+1 415 555 2671", "CEO", "Hooli",
     "hooli.example.com", "Palo Alto", "CA", "United States", "94301"],
]  # fmt: skip


def csv_bytes(
    header: list[str], rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


async def counts(db) -> tuple[int, int, int]:
    async with db.session() as session:
        return (
            await session.scalar(select(func.count()).select_from(Client)),
            await session.scalar(select(func.count()).select_from(ClientContact)),
            await session.scalar(select(func.count()).select_from(AuditLog)),
        )


async def manager_and_initech(db):
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        await factories.client(
            session,
            manager,
            "Initech",
            website="https://initech.example.com",
            contacts=[
                {"full_name": "Bill Lumbergh", "email": "bill@initech.example.com", "is_primary": True}
            ],
        )
        return manager


async def test_hubspot_export_dry_run_real_run_and_rerun(db) -> None:
    manager = await manager_and_initech(db)
    data = codecs.BOM_UTF8 + csv_bytes(HUBSPOT_HEADER, HUBSPOT_ROWS)
    before = await counts(db)

    dry = await client_imports.import_clients(db, data=data, actor_id=manager.id, dry_run=True)
    assert await counts(db) == before  # nothing written, not even an audit entry
    assert dry.counts == {"created": 2, "updated": 0, "duplicate": 1, "refused": 2}
    refused = {f.line: f.errors for f in dry.refused_lines}
    assert set(refused) == {5, 6}
    assert "contact_phone" in refused[5] and "contact_email" in refused[6]
    duplicate = dry.of("duplicate")[0]
    assert duplicate.lines == [4] and "Initech" in duplicate.detail
    assert "Record ID" in dry.ignored_columns
    assert "line 4" in "\n".join(dry.lines_text()) and "would be created" in dry.summary()

    real = await client_imports.import_clients(db, data=data, actor_id=manager.id)
    assert real.counts == dry.counts
    created = real.of("created")
    assert [o.name for o in created] == ["Société Générale", "Hooli"]
    first, second = (int(o.client_code.rsplit("-", 1)[1]) for o in created)
    assert second == first + 1  # codes in file order, no gap
    async with db.session() as session:
        sg = await session.scalar(select(Client).where(Client.name == "Société Générale"))
        contacts = {
            c.email: c
            for c in await session.scalars(select(ClientContact).where(ClientContact.client_id == sg.id))
        }
        assert (
            sg.website == "https://societegenerale.fr"
            and sg.country == "France"
            and sg.state == "Île-de-France"
        )
        amelie = contacts["amelie.durand@societegenerale.fr"]
        assert amelie.full_name == "Amélie Durand" and amelie.phone == "+33142142000" and amelie.is_primary
        assert not contacts["jean.martin@societegenerale.fr"].is_primary
        audited = await session.scalar(select(AuditLog).where(AuditLog.entity_id == sg.id))
        assert audited.action == "client.created" and audited.actor_id == manager.id

    again = await client_imports.import_clients(db, data=data, actor_id=manager.id)
    assert again.counts == {"created": 0, "updated": 0, "duplicate": 3, "refused": 2}
    assert (await counts(db))[:2] == (3, 4)


SALESFORCE_HEADER = [
    "Account Name", "Website", "Industry", "BillingStreet", "BillingCity", "BillingState",
    "BillingPostalCode", "BillingCountry", "FirstName", "LastName", "Title", "Email", "Phone", "MobilePhone",
]  # fmt: skip


async def test_salesforce_utf16_semicolons_then_update_merges_contacts_by_email(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    rows = [
        ["Müller & Söhne GmbH", "www.mueller-soehne.de", "Manufacturing", "Hauptstraße 1", "München",
         "Bayern", "80331", "Germany", "Jürgen", "Müller", "Geschäftsführer", "juergen@mueller-soehne.de",
         "089 1234567", ""],
        ["Müller & Söhne GmbH", "www.mueller-soehne.de", "", "", "", "", "", "", "Grete", "Weiß", "HR",
         "grete@mueller-soehne.de", "", "0151 23456789"],
    ]  # fmt: skip
    data = codecs.BOM_UTF16_LE + csv_bytes(SALESFORCE_HEADER, rows, delimiter=";", encoding="utf-16-le")
    report = await client_imports.import_clients(db, data=data, actor_id=manager.id)
    assert report.counts["created"] == 1 and not report.refused_lines, report.as_dict()
    async with db.session() as session:
        client = await session.scalar(select(Client).where(Client.name == "Müller & Söhne GmbH"))
        assert (client.address, client.city, client.postal_code, client.industry) == (
            "Hauptstraße 1",
            "München",
            "80331",
            "Manufacturing",
        )
        mobiles = set(await session.scalars(select(ClientContact.mobile)))
        assert "+4915123456789" in mobiles

    update_rows = [
        ["Muller and Sohne", "mueller-soehne.de", "", "", "", "", "", "", "Jürgen", "Müller", "CEO",
         "JUERGEN@mueller-soehne.de", "", ""],
        ["Muller and Sohne", "mueller-soehne.de", "", "", "", "", "", "", "Paul", "Neu", "Recruiter",
         "paul@mueller-soehne.de", "", ""],
    ]  # fmt: skip
    data = csv_bytes(SALESFORCE_HEADER, update_rows, delimiter=";")
    skipped = await client_imports.import_clients(db, data=data, actor_id=manager.id)
    assert skipped.counts["duplicate"] == 1 and skipped.counts["updated"] == 0
    updated = await client_imports.import_clients(db, data=data, actor_id=manager.id, update=True)
    assert updated.counts == {"created": 0, "updated": 1, "duplicate": 0, "refused": 0}, updated.as_dict()
    async with db.session() as session:
        contacts = {c.email: c for c in await session.scalars(select(ClientContact))}
        assert set(contacts) == {
            "juergen@mueller-soehne.de",
            "grete@mueller-soehne.de",
            "paul@mueller-soehne.de",
        }
        assert all(c.is_active for c in contacts.values())  # merged, nothing removed
        assert contacts["juergen@mueller-soehne.de"].title == "CEO"
        assert contacts["juergen@mueller-soehne.de"].is_primary  # still the primary one
        assert sum(c.is_primary for c in contacts.values()) == 1
        client = await session.scalar(select(Client))
        assert client.name == "Muller and Sohne" and client.city == "München"  # blanks keep stored values


def write_1252_spreadsheet(path: Path) -> Path:
    ca = "Crédit Agricole;Banque;credit-agricole.fr;Montrouge;France"
    text = (
        "name;industry;website;city;country;contact_name;contact_email;contact_phone;is_primary\r\n"
        f"{ca};Hélène Coté;helene@credit-agricole.fr;;\r\n"
        f"{ca};Noël Dupré;noel@credit-agricole.fr;;oui\r\n"
        f"{ca};Zoë Bad;zoe@@credit-agricole.fr;;\r\n"
        "Café Noir;Food;cafe-noir.fr;Lyon;France;René Forté;rene@cafe-noir.fr;04 72 00 00 00;\r\n"
        "Café Noir;Food;cafe-noir.fr;Lyon;France;René Forté;RENE@cafe-noir.fr;;\r\n"
    )
    path.write_bytes(text.encode("cp1252"))
    return path


def test_windows_1252_spreadsheet_through_the_cli(database_url: str, tmp_path: Path) -> None:
    path = write_1252_spreadsheet(tmp_path / "clients.csv")
    dry = run_cli(database_url, "import", "clients", str(path), "--dry-run")
    assert dry.returncode == 1 and "Traceback" not in dry.stderr, dry.stderr
    assert "would be created" in dry.stdout and "dry run, nothing written" in dry.stdout
    assert "created Café Noir — lines 5-6" in dry.stdout
    assert "refused line 4: contact_email" in dry.stdout
    assert "refused line 2: row: Not imported: its client was refused (line 4)" in dry.stdout
    report = tmp_path / "clients.refused.csv"
    assert report.exists()
    report.unlink()

    real = run_cli(database_url, "import", "clients", str(path))
    assert "1 created" in real.stdout and "CLT-" in real.stdout, real.stdout + real.stderr
    assert "]" in real.stderr  # the progress bar
    refused = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert refused[0][:3] == ["line", "problems", "name"]
    assert [row[0] for row in refused[1:]] == ["2", "3", "4"]
    assert refused[3][7] == "Zoë Bad"

    again = run_cli(database_url, "import", "clients", str(path))
    assert "0 created" in again.stdout and "1 duplicate" in again.stdout, again.stdout


async def test_the_same_person_on_two_rows_is_one_contact(db, tmp_path: Path) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    data = write_1252_spreadsheet(tmp_path / "clients.csv").read_bytes()
    report = await client_imports.import_clients(db, data=data, actor_id=manager.id)
    assert [o.name for o in report.of("created")] == ["Café Noir"]
    async with db.session() as session:
        rene = (await session.scalars(select(ClientContact))).one()
    assert (rene.full_name, rene.phone, rene.is_primary) == ("René Forté", "+33472000000", True)


async def test_map_option_and_unknown_headers(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    data = csv_bytes(["Firma", "Kontakt", "Mail"], [["Nordwind AG", "Ida Kraft", "ida@nordwind.example.com"]])
    mapping = client_imports.parse_map(
        ["Firma=name", "Kontakt=contact_name", "Mail=contact_email"], client_imports.CLIENT_IMPORT_FIELDS
    )
    report = await client_imports.import_clients(db, data=data, actor_id=manager.id, mapping=mapping)
    assert report.counts["created"] == 1
    try:
        await client_imports.import_clients(db, data=data, actor_id=manager.id)
    except client_imports.ValidationFailed as error:
        assert "--map" in error.fields["file"]
    else:
        raise AssertionError("a file without a name column was accepted")


async def test_concurrent_imports_get_distinct_consecutive_codes(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)

    def file(prefix: str) -> bytes:
        rows = [[f"{prefix} {i}", f"p{i}@{prefix.lower()}{i}.example.com", "P"] for i in range(30)]
        return csv_bytes(["name", "contact_email", "contact_name"], rows)

    reports = await asyncio.gather(
        *(client_imports.import_clients(db, data=file(p), actor_id=manager.id) for p in ("Alpha", "Beta"))
    )
    assert [r.counts["created"] for r in reports] == [30, 30]
    async with db.session() as session:
        codes = sorted(await session.scalars(select(Client.client_code)))
    numbers = [int(code.rsplit("-", 1)[1]) for code in codes]
    assert numbers == list(range(numbers[0], numbers[0] + 60))
    for report in reports:  # each file's clients in its own file order
        mine = [int(o.client_code.rsplit("-", 1)[1]) for o in report.of("created")]
        assert mine == sorted(mine)


async def test_communications_import_is_immutable_and_idempotent(
    db, tmp_path: Path, database_url: str
) -> None:
    acme = await factories.acme_with_team(db)
    day = [(clock.today(UTC) - timedelta(days=n)).isoformat() for n in (400, 380, 370)]
    text = (
        "client_code,type,date,subject,notes,participants,logged_by\n"
        f"{acme.client_code},call,{day[0]},Kick-off,Talked about Q2 hiring,Ann Lee;U012AB3CD,UMANAGER\n"
        f"{acme.client_code},Meeting,{day[1]}T09:30,Review,,ann@acme.example.com,\n"
        f"{acme.client_code},telepathy,{day[2]},Odd,,,\n"
        f"CLT-1999-0001,call,{day[2]},Nobody,,,\n"
        f"{acme.client_code},email,next tuesday,Bad date,,,\n"
    )
    path = tmp_path / "history.csv"
    path.write_text(text, encoding="utf-8")
    first = run_cli(database_url, "import", "communications", str(path))
    assert "5 rows: 2 created, 0 already imported, 3 refused" in first.stdout, first.stdout + first.stderr
    assert "line 4: communication_type" in first.stdout and "line 5: client_code" in first.stdout
    assert "line 6: date" in first.stdout
    stored = await factories.stored_communications(db)
    assert len(stored) == 2 and {c.source for c in stored} == {"import"}
    assert all(c.import_key and len(c.import_key) == 64 for c in stored)
    call = next(c for c in stored if c.subject == "Kick-off")
    assert call.participants == [{"name": "Ann Lee"}, {"slack_user_id": "U012AB3CD"}]

    again = run_cli(database_url, "import", "communications", str(path))
    assert "5 rows: 0 created, 2 already imported, 3 refused" in again.stdout, again.stdout
    assert len(await factories.stored_communications(db)) == 2

    from sqlalchemy import update

    async with db.session() as session:  # the database refuses to edit an imported record too
        try:
            async with session.begin_nested():
                await session.execute(
                    update(ClientCommunication)
                    .where(ClientCommunication.id == call.id)
                    .values(import_key="x")
                )
        except Exception as error:
            assert "immutable" in str(error)
        else:
            raise AssertionError("import_key was edited")


async def test_an_import_and_a_modal_creating_the_same_client_make_one(db) -> None:
    """The import takes the modal's duplicate locks: whichever comes second sees the first."""
    from bot.errors import DuplicateSuspected
    from bot.services import clients

    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    data = csv_bytes(
        ["name", "contact_name", "contact_email"], [["Zeta Labs", "Zed", "zed@zeta.example.com"]]
    )

    async def by_modal() -> str:
        try:
            async with db.session() as session:
                actor = await factories.user(session, "UMANAGER", Role.MANAGER)
                made = await clients.create(
                    session, actor=actor, data=clients.parse_client(factories.client_input("Zeta Labs Inc."))
                )
                return made.client_code
        except DuplicateSuspected:
            return "duplicate"

    modal, report = await asyncio.gather(
        by_modal(), client_imports.import_clients(db, data=data, actor_id=manager.id)
    )
    assert (modal != "duplicate") != (report.counts["created"] == 1), (modal, report.as_dict())
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Client)) == 1


async def test_update_by_client_code_adds_a_contact_and_keeps_the_rest(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
        stored = await factories.client(session, manager, "Acme")
    data = csv_bytes(
        ["client_code", "contact_name", "contact_email", "is_primary"],
        [[stored.client_code.lower(), "New Boss", "boss@techcorp.example.com", "yes"]],
    )
    report = await client_imports.import_clients(db, data=data, actor_id=manager.id, update=True)
    assert report.counts["updated"] == 1, report.as_dict()
    async with db.session() as session:
        contacts = {c.email: c for c in await session.scalars(select(ClientContact))}
        client = await session.get(Client, stored.id)
    assert set(contacts) == {"john@techcorp.example.com", "boss@techcorp.example.com"}
    assert (
        contacts["boss@techcorp.example.com"].is_primary
        and not contacts["john@techcorp.example.com"].is_primary
    )
    assert client.name == "Acme" and client.city == "San Francisco"
