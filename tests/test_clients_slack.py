"""Client profiles driven the way Slack drives the app: signed slash commands, modal submissions and
button clicks in, Web API calls out to the fake Slack."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.models import AuditLog, Client, ClientContact, Role, User
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER


async def make_user(rt, slack_id: str, role: Role) -> None:
    async with rt.db.session() as session:
        await factories.user(session, slack_id, role)


async def count(rt, model: Any) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def png_bytes(size: tuple[int, int] = (64, 64), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


async def open_new_client_modal(slack, fake, user_id: str = MANAGER) -> dict[str, Any]:
    reply = await slack.command("new", user_id=user_id)
    assert reply.status == 200
    view = await fake.filled(await fake.wait_for("views.open"))
    assert view["callback_id"] == "client_form"
    return view


GOOD_FORM = {
    "name": "Tech Corp Inc.",
    "industry": "Information Technology",
    "website": "https://techcorp.example.com",
    "city": "San Francisco",
    "country": "USA",
    "contact_0_name": "John Doe",
    "contact_0_title": "HR Director",
    "contact_0_email": "john@techcorp.example.com",
    "contact_0_phone": "(415) 555-2671",
}


async def submit(slack, view: dict[str, Any], values: dict[str, Any], user_id: str = MANAGER):
    return await slack.view_submission(view, slack.form_values(view, values), user_id=user_id)


async def test_manager_creates_a_client_end_to_end(slack, fake, rt) -> None:
    await make_user(rt, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    reply = await submit(slack, view, GOOD_FORM | {"account_manager": None})
    assert reply.status == 200 and not reply.body  # closed at once; the work follows the ack
    confirmation = await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    assert "Created *Tech Corp Inc.* as `CLT-" in json.dumps(confirmation)
    async with rt.db.session() as session:
        client = await session.scalar(select(Client))
        contact = await session.scalar(select(ClientContact))
        actions = list(await session.scalars(select(AuditLog.action)))
    assert client.name == "Tech Corp Inc." and client.website == "https://techcorp.example.com"
    assert client.client_code in json.dumps(confirmation)
    assert contact.phone == "+14155552671" and contact.is_primary
    assert "client.created" in actions


@pytest.mark.parametrize(
    ("changes", "block", "message"),
    [
        ({"contact_0_email": "john-at-techcorp"}, "contact_0_email", "valid email"),
        ({"contact_0_phone": "12345"}, "contact_0_phone", "phone"),
        ({"website": "ht!tp://nope"}, "website", "website"),
        ({"name": "   "}, "name", "required"),
    ],
)
async def test_each_validation_error_shows_on_its_field(slack, fake, rt, changes, block, message) -> None:
    await make_user(rt, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    reply = await submit(slack, view, GOOD_FORM | changes)
    assert reply.json["response_action"] == "errors"
    assert block in reply.json["errors"] and message in reply.json["errors"][block].lower()
    assert await count(rt, Client) == 0


async def test_two_contacts_need_exactly_one_primary(slack, fake, rt) -> None:
    await make_user(rt, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    await slack.block_action("client_form_add_contact", user_id=MANAGER, view=view)
    await fake.wait_for("views.update", lambda c: c.params.get("hash"))  # the form, grown in place
    view = fake.open_view(view["id"])
    assert any(b.get("block_id") == "contact_1_email" for b in view["blocks"])
    second = {"contact_1_name": "Ann Lee", "contact_1_email": "ann@techcorp.example.com"}
    reply = await submit(slack, view, GOOD_FORM | second)
    assert reply.json["errors"] == {"contact_0_flags": "Mark exactly one contact as primary."}
    reply = await submit(
        slack, view, GOOD_FORM | second | {"contact_0_flags": ["primary"], "contact_1_flags": ["primary"]}
    )
    assert "2 contacts are marked primary" in reply.json["errors"]["contact_0_flags"]
    reply = await submit(slack, view, GOOD_FORM | second | {"contact_1_flags": ["primary"]})
    assert reply.status == 200 and not reply.body
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    async with rt.db.session() as session:
        primary = await session.scalar(select(ClientContact).where(ClientContact.is_primary.is_(True)))
    assert primary.full_name == "Ann Lee"


async def test_duplicate_warning_then_confirm_creates_anyway(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.client(
            session,
            manager,
            "TECH CORP, LLC",
            website=None,
            contacts=[{"full_name": "Old", "email": "old@elsewhere.example.com"}],
        )
    view = await open_new_client_modal(slack, fake)
    reply = await submit(slack, view, GOOD_FORM)
    assert reply.json["response_action"] == "update"
    warned = reply.json["view"]
    assert "CLT-" in json.dumps(warned) and "same name" in json.dumps(warned)
    assert await count(rt, Client) == 1
    reply = await submit(slack, warned, GOOD_FORM | {"confirm_duplicate": ["confirm"]})
    assert reply.status == 200 and not reply.body
    await fake.wait_for_response(json.loads(warned["private_metadata"])["response_url"])
    assert await count(rt, Client) == 2


async def test_recruiter_cannot_create(slack, fake, rt) -> None:
    await make_user(rt, RECRUITER, Role.RECRUITER)
    await slack.command("new", user_id=RECRUITER)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "Only an HR Manager" in json.dumps(answer)
    # The modal opened on the trigger at once says so too, instead of a form.
    shown = await fake.filled(await fake.wait_for("views.open"))
    assert shown["callback_id"] == "notice" and "Only an HR Manager" in json.dumps(shown)
    # A forged submission of the modal is refused by the service layer too.
    await make_user(rt, MANAGER, Role.MANAGER)
    fake.calls.clear()
    view = await open_new_client_modal(slack, fake, MANAGER)
    reply = await submit(slack, view, GOOD_FORM, user_id=RECRUITER)
    assert "Only an HR Manager" in reply.json["errors"]["name"]
    assert await count(rt, Client) == 0


async def test_only_admin_deactivates(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, ADMIN, Role.ADMIN)
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
    await slack.command(f"deactivate {acme.client_code} contract ended", user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "Only an HR Admin" in json.dumps(answer)
    await slack.command(f"deactivate {acme.client_code} contract ended", user_id=ADMIN)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "is now *inactive*" in json.dumps(answer)
    async with rt.db.session() as session:
        stored = await session.get(Client, acme.id)
    assert stored.status == "inactive" and stored.deactivation_reason == "contract ended"


async def test_recruiter_cannot_deactivate(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.user(session, RECRUITER, Role.RECRUITER)
        acme = await factories.client(session, manager, "Acme")
    await slack.command(f"deactivate {acme.client_code} contract ended", user_id=RECRUITER)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "Only an HR Admin" in json.dumps(answer)
    async with rt.db.session() as session:
        stored = await session.get(Client, acme.id)
        audits = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "client.status_changed")
        )
    assert stored.status == "active" and stored.deactivated_at is None and audits == 0


async def test_show_a_name_with_an_apostrophe(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        oreilly = await factories.client(
            session,
            manager,
            "O'Reilly Media",
            website=None,
            contacts=[{"full_name": "Tim", "email": "tim@oreilly.example.com", "is_primary": True}],
        )
    await slack.command("show O'Reilly", user_id=MANAGER)
    card = await fake.wait_for_response(slack.last_response_url)
    assert oreilly.client_code in json.dumps(card) and "quote" not in json.dumps(card)


@pytest.mark.parametrize(
    ("content", "name", "accepted", "error"),
    [
        (png_bytes(), "logo.png", True, None),
        (png_bytes(fmt="JPEG"), "logo.jpg", True, None),
        (b"MZ\x90\x00 this is an executable" * 10, "logo.png", False, "not a PNG or JPEG"),
        (png_bytes(fmt="GIF"), "logo.png", False, "Only PNG or JPEG"),
        (b"\x89PNG" + b"0" * (2 * 1024 * 1024), "big.png", False, "larger than 2 MB"),
    ],
)
async def test_logo_is_judged_by_content_and_size(slack, fake, rt, content, name, accepted, error) -> None:
    await make_user(rt, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    logo = fake.add_file(name, content, "image/png", "png")
    reply = await submit(slack, view, GOOD_FORM | {"logo": [logo]})
    if not accepted:
        assert error in reply.json["errors"]["logo"]
        assert await count(rt, Client) == 0
        return
    assert reply.status == 200 and not reply.body
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    async with rt.db.session() as session:
        client = await session.scalar(select(Client))
    assert client.logo_url and await rt.storage.get(client.logo_url) == content
    await slack.command(f"show {client.client_code}", user_id=MANAGER)
    board = await fake.wait_for_response(slack.last_response_url, contains="Active jobs")
    [image] = [
        e for b in board["blocks"] if b["type"] == "context" for e in b["elements"] if e["type"] == "image"
    ]
    assert image["slack_file"] == {"id": logo["id"]}  # the Slack-hosted file, never a public link


async def test_forged_and_stale_requests_are_rejected(slack, fake, rt) -> None:
    forged = await slack.command("new", user_id=MANAGER, signature="v0=" + "0" * 64)
    stale = await slack.command("new", user_id=MANAGER, timestamp=int(time.time()) - 301)
    assert (forged.status, stale.status) == (401, 401)
    assert fake.calls_to("views.open") == [] and await count(rt, User) == 0


async def test_list_pages_through_45_clients(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        for n in range(45):
            await factories.client(
                session,
                admin,
                f"Client {n:02d}",
                website=None,
                contacts=[{"full_name": "C", "email": f"c@c{n}.example.com"}],
            )
    await slack.command("list", user_id=RECRUITER)
    page1 = await fake.wait_for_response(slack.last_response_url)
    assert "page 1 of 3" in json.dumps(page1) and "Client 00" in json.dumps(page1)
    nav = next(b for b in page1["blocks"] if b.get("block_id") == "client_list_nav")
    next_button = nav["elements"][-1]
    response_url = fake.new_response_url()
    await slack.block_action(
        next_button["action_id"],
        value=next_button["value"],
        user_id=RECRUITER,
        response_url=response_url,
        message=page1,
    )
    page2 = await fake.wait_for_response(response_url)
    assert page2["replace_original"] is True
    assert "page 2 of 3" in json.dumps(page2) and "Client 20" in json.dumps(page2)


async def test_list_rejects_unknown_status(slack, fake, rt) -> None:
    await slack.command("list status:sleeping", user_id=RECRUITER)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "Unknown status" in json.dumps(answer)


async def test_show_and_edit(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme Widgets")
    await slack.command('show "acme widgets"', user_id=MANAGER)
    card = await fake.wait_for_response(slack.last_response_url)
    assert acme.client_code in json.dumps(card) and "John Doe" in json.dumps(card)
    await slack.command(f"edit {acme.client_code}", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    name_block = next(b for b in view["blocks"] if b.get("block_id") == "name")
    assert name_block["element"]["initial_value"] == "Acme Widgets"
    values = GOOD_FORM | {"name": "Acme Widgets Group", "contact_0_flags": ["primary"]}
    reply = await submit(slack, view, values)
    assert reply.status == 200 and not reply.body
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    async with rt.db.session() as session:
        stored = await session.get(Client, acme.id)
    assert stored.name == "Acme Widgets Group" and stored.client_code == acme.client_code


async def test_role_changes_are_admin_only(slack, fake, rt) -> None:
    await slack.command(f"role <@{RECRUITER}|rita> manager", user_id=MANAGER)
    denied = await fake.wait_for_response(slack.last_response_url)
    assert "Only an HR Admin" in json.dumps(denied)
    await slack.command(f"role <@{RECRUITER}|rita> manager", user_id=ADMIN)
    await fake.wait_for_response(slack.last_response_url)
    async with rt.db.session() as session:
        rita = await session.scalar(select(User).where(User.slack_user_id == RECRUITER))
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "user.role_changed"))
    assert rita.role == "manager" and entry.after == {"role": "manager"}


async def test_help_for_empty_and_unknown(slack, fake) -> None:
    await slack.command("", user_id=RECRUITER)
    help_text = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "/client log" in help_text and "/client list" in help_text and "/client new" not in help_text
    await slack.command("frobnicate", user_id=RECRUITER)
    assert "I don't know `frobnicate`" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_app_home_shows_my_clients(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.client(session, manager, "Mine Ltd", account_manager_id=MANAGER)
        await factories.client(
            session,
            manager,
            "Not Mine",
            website=None,
            contacts=[{"full_name": "N", "email": "n@notmine.example.com"}],
        )
    await slack.event({"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"})
    published = json.dumps((await fake.wait_for("views.publish")).params["view"])
    assert "Mine Ltd" in published and "Not Mine" not in published


async def test_healthz(app_url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{app_url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "database": "ok"}


async def test_new_client_global_shortcut_opens_the_modal(slack, fake, rt) -> None:
    await make_user(rt, MANAGER, Role.MANAGER)
    reply = await slack.shortcut("new_client", user_id=MANAGER)
    assert reply.status == 200
    view = await fake.filled(await fake.wait_for("views.open"))
    assert view["callback_id"] == "client_form"
    reply = await submit(slack, view, GOOD_FORM)
    assert reply.status == 200 and not reply.body
    dm = await fake.wait_for("chat.postMessage")  # no response_url from a shortcut: the answer is a DM
    assert dm.params["channel"] == MANAGER and "Created" in dm.params["text"]


async def test_list_filters_by_manager_and_created_dates(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        mine = await factories.client(session, manager, "Managed Co", account_manager_id=MANAGER)
        await factories.client(
            session,
            manager,
            "Unmanaged Co",
            website=None,
            contacts=[{"full_name": "U", "email": "u@unmanaged.example.com"}],
        )
    today = mine.created_at.date().isoformat()
    await slack.command(f"list manager:<@{MANAGER}|mia> from:{today} to:{today}", user_id=RECRUITER)
    listing = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Managed Co" in listing and "Unmanaged Co" not in listing
    await slack.command("list from:2001-01-01 to:2001-12-31", user_id=RECRUITER)
    assert "No clients match" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command("list from:yesterday", user_id=RECRUITER)
    assert "is not a date" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_healthz_is_503_when_the_database_is_down(settings) -> None:
    import aiohttp
    from aiohttp import web

    from bot.app import create_web_app
    from bot.db import Database
    from bot.runtime import Runtime
    from bot.storage import LocalStorage

    down = Runtime(
        settings=settings,
        db=Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"),
        storage=LocalStorage(settings.storage_dir),
    )
    runner = web.AppRunner(create_web_app(down, None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 503
            assert await response.json() == {"status": "unavailable", "database": "unreachable"}
    finally:
        await runner.cleanup()


def test_split_args_falls_back_to_whitespace_on_a_lone_quote() -> None:
    from handlers.common import split_args

    assert split_args("show O'Reilly") == ["show", "O'Reilly"]
    assert split_args("show O&#39;Reilly Media") == ["show", "O'Reilly", "Media"]
    assert split_args('show "Acme Widgets" extra') == ["show", "Acme Widgets", "extra"]


async def test_edit_modal_with_more_contacts_than_it_holds_loses_none(slack, fake, rt) -> None:
    """A client with 12 active contacts (from before the cap): the edit modal holds the most it can,
    the primary first, names the rest; saving leaves the others untouched and one primary."""
    from views.clients import MAX_FORM_CONTACTS

    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme Widgets")
        first = await session.scalar(select(ClientContact).where(ClientContact.client_id == acme.id))
        first.is_primary = False
        for n in range(11):
            session.add(
                ClientContact(
                    client_id=acme.id,
                    full_name=f"Person {n}",
                    email=f"p{n}@techcorp.example.com",
                    email_domain="techcorp.example.com",
                    is_primary=n == 10,
                )
            )
    await slack.command(f"edit {acme.client_code}", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert f"contact_{MAX_FORM_CONTACTS - 1}_flags" in blocks and len(view["blocks"]) <= 100
    assert blocks["contact_0_name"]["element"]["initial_value"] == "Person 10"  # the primary first
    assert f"{12 - MAX_FORM_CONTACTS} more contact(s)" in json.dumps(view)
    prefilled = {
        b["block_id"]: b["element"]["initial_value"]
        for b in view["blocks"]
        if b.get("type") == "input" and "initial_value" in b["element"]
    }
    values = prefilled | {"name": "Acme Widgets Group", "contact_0_flags": ["primary"]}
    reply = await submit(slack, view, values)
    assert reply.status == 200 and not reply.body, reply.body
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    async with rt.db.session() as session:
        stored = await session.get(Client, acme.id)
        contacts = list(
            await session.scalars(select(ClientContact).where(ClientContact.client_id == acme.id))
        )
    assert stored.name == "Acme Widgets Group"
    assert len(contacts) == 12 and all(c.is_active for c in contacts)
    assert [c.full_name for c in contacts if c.is_primary] == ["Person 10"]
