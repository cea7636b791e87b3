"""Logging client communications through Slack and email, end to end."""

from __future__ import annotations

import json
from email.message import EmailMessage

import aiohttp
import pytest
from sqlalchemy import select

from bot.models import ClientCommunication, Role
from bot.services import communications, jobs
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


async def _acme(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
        await jobs.create_job(
            session,
            actor=manager,
            data=jobs.parse_job({"reference": "JOB-7", "title": "Analyst", "client_id": acme.client_code}),
        )
    return acme


async def _open_log(slack, fake, acme, user_id=RECRUITER) -> dict:
    await slack.command(f"log {acme.client_code}", user_id=user_id)
    return await fake.filled(await fake.wait_for("views.open"))


async def _stored(rt) -> list[ClientCommunication]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(ClientCommunication)))


FORM = {
    "subject": "Quarterly review",
    "notes": "Went well",
    "when": 1772352000,
    "participants": ["UMANAGER"],
    "external_participants": "Jane Roe <jane@acme.example.com>, Bob",
}


@pytest.mark.parametrize("kind", ["meeting", "call", "email", "video_call", "contract_signed"])
async def test_log_each_type_end_to_end(slack, fake, rt, kind: str) -> None:
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    values = slack.form_values(
        view,
        FORM | {"type": kind, "job": "JOB-7", "flags": ["important"], "follow_up_date": "2026-03-10"},
    )
    reply = await slack.view_submission(view, values, user_id=RECRUITER)
    assert reply.json["response_action"] == "update" and "Saving" in json.dumps(reply.json["view"])
    done = await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    assert "Quarterly review" in json.dumps(done.params["view"])
    [record] = await _stored(rt)
    assert (
        record.communication_type == kind
        and record.is_important
        and str(record.follow_up_date) == "2026-03-10"
    )
    assert {"slack_user_id": "UMANAGER"} in record.participants
    assert {"name": "Jane Roe", "email": "jane@acme.example.com"} in record.participants
    assert int(record.communication_date.timestamp()) == 1772352000


async def test_modal_validation_keeps_the_user_in_the_form(slack, fake, rt) -> None:
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    values = slack.form_values(view, FORM | {"type": "call", "subject": "", "notes": ""})
    reply = await slack.view_submission(view, values, user_id=RECRUITER)
    assert reply.json["response_action"] == "errors"
    assert set(reply.json["errors"]) == {"subject"}
    assert await _stored(rt) == []


async def test_attachment_accepted_and_downloaded_by_dm(slack, fake, rt) -> None:
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    pdf = fake.add_file("proposal.pdf", PDF, "application/pdf", "pdf")
    await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "meeting", "attachments": [pdf]}), user_id=RECRUITER
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    [record] = await _stored(rt)
    meta = record.attachments[0]
    assert (meta["name"], meta["mime"], meta["size"]) == ("proposal.pdf", "application/pdf", len(PDF))
    assert await rt.storage.get(meta["storage_key"]) == PDF

    await slack.command(f"history {acme.client_code}", user_id=MANAGER)
    timeline = await fake.wait_for_response(slack.last_response_url)
    menu = next(
        b["accessory"] for b in timeline["blocks"] if b.get("accessory", {}).get("type") == "overflow"
    )
    download = next(o for o in menu["options"] if o["value"].startswith("dl:"))
    await slack.block_action("comm_entry_menu", user_id=MANAGER, selected_option=download, message=timeline)
    await fake.wait_for("files.completeUploadExternal")
    [upload] = fake.uploaded_files()
    assert upload.content == PDF and upload.filename == "proposal.pdf" and upload.channel_id.startswith("D")


async def test_every_attachment_stays_reachable_from_the_timeline(slack, fake, rt) -> None:
    """Slack's overflow menu holds five options: many files become one "Download all" entry."""
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    names = [f"cv-{n}.txt" for n in range(6)]
    files = [
        fake.add_file(name, f"CV number {n}".encode(), "text/plain", "text") for n, name in enumerate(names)
    ]
    await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "meeting", "attachments": files}), user_id=RECRUITER
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    await slack.command(f"history {acme.client_code}", user_id=MANAGER)
    timeline = await fake.wait_for_response(slack.last_response_url)
    menu = next(
        b["accessory"] for b in timeline["blocks"] if b.get("accessory", {}).get("type") == "overflow"
    )
    assert len(menu["options"]) <= 5
    [everything] = [o for o in menu["options"] if o["value"].startswith("dl:")]
    assert everything["text"]["text"] == "Download all 6 files"
    await slack.block_action("comm_entry_menu", user_id=MANAGER, selected_option=everything, message=timeline)
    await fake.wait_for("files.completeUploadExternal")
    uploads = fake.uploaded_files()
    assert sorted(u.filename for u in uploads) == names
    assert {u.content for u in uploads} == {f"CV number {n}".encode() for n in range(6)}
    assert all(u.channel_id.startswith("D") for u in uploads)


@pytest.mark.parametrize(
    ("content", "name", "expect"),
    [
        (b"%PDF-" + b"0" * (10 * 1024 * 1024 - 4), "big.pdf", "larger than 10 MB"),
        (EXE, "invoice.pdf", "not an accepted file type"),
    ],
)
async def test_attachment_rejected_nothing_stored(slack, fake, rt, content, name, expect) -> None:
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    bad = fake.add_file(name, content, "application/pdf", "pdf")
    reply = await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "email", "attachments": [bad]}), user_id=RECRUITER
    )
    if "10 MB" in expect:  # 10 MB + 1 byte: refused in the modal before anything is fetched
        assert expect in reply.json["errors"]["attachments"]
    else:  # judged by its bytes after the ack: the form comes back with the reason and the typed text
        form = await fake.wait_for(
            "views.update",
            lambda c: (
                c.params["view"]["callback_id"] == "comm_log_form" and "Nothing was saved" in str(c.params)
            ),
        )
        shown = json.dumps(form.params["view"])
        assert expect in shown and "Nothing was saved" in shown and "Quarterly review" in shown
    assert await _stored(rt) == []


async def test_download_denied_for_recruiter_on_archived_client_and_for_guests(slack, fake, rt) -> None:
    acme = await _acme(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        stored = await communications.save_attachments(
            rt.storage, [communications.IncomingFile("a.pdf", PDF)]
        )
        record = await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            attachments=stored,
            data=communications.parse_communication(
                {
                    "communication_type": "email",
                    "communication_date": "2026-03-01T10:00",
                    "subject": "Contract draft",
                }
            ),
        )
        from bot.models import ClientStatus
        from bot.services import clients

        await clients.change_status(
            session, actor=admin, client_id=acme.id, status=ClientStatus.ARCHIVED, reason="Lost"
        )
    option = {"value": f"dl:{record.id}:0", "text": {"type": "plain_text", "text": "Download"}}
    url = fake.new_response_url()
    await slack.block_action("comm_entry_menu", user_id=RECRUITER, selected_option=option, response_url=url)
    assert "only an HR Manager or Admin" in json.dumps(await fake.wait_for_response(url))
    fake.add_user("UGUEST", "guest", guest=True)
    url = fake.new_response_url()
    await slack.block_action("comm_entry_menu", user_id="UGUEST", selected_option=option, response_url=url)
    assert "guest" in json.dumps(await fake.wait_for_response(url))
    assert fake.calls_to("files.getUploadURLExternal") == []
    await slack.block_action("comm_entry_menu", user_id=MANAGER, selected_option=option)
    await fake.wait_for("files.completeUploadExternal")


async def _log_message(slack, fake, message: dict) -> dict:
    """Run "Log to client" on a message, pick Acme: the prefilled log form."""
    await slack.message_shortcut("log_to_client", message, user_id=RECRUITER)
    pick = await fake.filled(await fake.wait_for("views.open"))
    assert pick["callback_id"] == "comm_pick_client" and message["text"][:14] in json.dumps(pick)
    options = await slack.block_suggestion(
        "client_picker", "acme", block_id="client", view=pick, user_id=RECRUITER
    )
    values = {
        "client": {
            "client_picker": {"type": "external_select", "selected_option": options.json["options"][0]}
        },
        "notes": {"value": {"type": "plain_text_input", "value": message["text"]}},
    }
    reply = await slack.view_submission(pick, values, user_id=RECRUITER)
    assert reply.json["response_action"] == "update" and reply.json["view"]["callback_id"] == "comm_log_form"
    return reply.json["view"]


async def test_message_shortcut_logs_the_message_with_its_file(slack, fake, rt) -> None:
    acme = await _acme(rt)
    attachment = fake.add_file("notes.txt", b"Meeting notes: hire 3 engineers", "text/plain", "text")
    message = {
        "ts": "1700000000.000200",
        "user": "UCOLLEAGUE",
        "files": [attachment],
        "text": "Call with Acme: they want <@UMANAGER> on the next one",
    }
    form = await _log_message(slack, fake, message)
    users_block = next(b for b in form["blocks"] if b.get("block_id") == "participants")
    assert users_block["element"]["initial_users"] == ["UCOLLEAGUE", "UMANAGER"]
    notes_block = next(b for b in form["blocks"] if b.get("block_id") == "notes")
    await slack.view_submission(
        form,
        slack.form_values(
            form,
            {
                "type": "call",
                "when": 1772352000,
                "notes": notes_block["element"]["initial_value"],
                "participants": users_block["element"]["initial_users"],
            },
        ),
        user_id=RECRUITER,
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    [record] = await _stored(rt)
    assert record.client_id == acme.id and record.notes.startswith("Call with Acme")
    assert record.permalink and "1700000000" in record.permalink
    assert [a["name"] for a in record.attachments] == ["notes.txt"]


async def test_a_message_file_slack_will_not_hand_over_never_blocks_the_log(slack, fake, rt) -> None:
    acme = await _acme(rt)
    gone = {"id": "FGONE", "name": "gone.pdf", "size": 10}
    message = {"ts": "1700000000.000300", "user": "UCOLLEAGUE", "files": [gone], "text": "Offer call notes"}
    form = await _log_message(slack, fake, message)
    answers = {"type": "call", "when": 1772352000, "subject": "Offer call"}
    await slack.view_submission(form, slack.form_values(form, answers), user_id=RECRUITER)
    again = (
        await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_log_form")
    ).params["view"]
    assert "left out" in json.dumps(again) and await _stored(rt) == []
    await slack.view_submission(again, slack.form_values(again, answers), user_id=RECRUITER)
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    [record] = await _stored(rt)
    assert record.client_id == acme.id and record.subject == "Offer call" and not record.attachments


async def test_history_filters_and_pages_in_slack(slack, fake, rt) -> None:
    acme = await _acme(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        for n in range(45):
            await communications.log(
                session,
                actor=manager,
                client_id=acme.id,
                data=communications.parse_communication(
                    {
                        "communication_type": "call" if n % 3 == 0 else "meeting",
                        "subject": f"Touchpoint {n}",
                        "communication_date": f"2026-02-{1 + n % 28:02d}T10:00",
                        "is_important": n == 7,
                        "job_id": "JOB-7" if n % 5 == 0 else None,
                        "follow_up_required": n % 9 == 0,
                        "follow_up_date": "2026-03-02" if n % 9 == 0 else None,
                    }
                ),
            )
    await slack.command(f"history {acme.client_code}", user_id=RECRUITER)
    first = await fake.wait_for_response(slack.last_response_url)
    assert "page 1 of 3" in json.dumps(first)
    nav = next(b for b in first["blocks"] if b.get("block_id") == "comm_history_nav")["elements"][-1]
    url = fake.new_response_url()
    await slack.block_action(nav["action_id"], value=nav["value"], user_id=RECRUITER, response_url=url)
    assert "page 2 of 3" in json.dumps(await fake.wait_for_response(url))
    for query, count in (
        ("type:call", 15),
        ("important", 1),
        ("followup", 5),
        ("followup job:JOB-7", 1),
        ("job:JOB-7", 9),
        ("type:call job:JOB-7", 3),
        ("from:2026-02-01 to:2026-02-01", 2),
        ("Touchpoint 44", 1),
    ):
        await slack.command(f"history {acme.client_code} {query}", user_id=RECRUITER)
        assert f"{count} record(s)" in json.dumps(await fake.wait_for_response(slack.last_response_url)), (
            query
        )
    await slack.command(f"history {acme.client_code} type:fax", user_id=RECRUITER)
    assert "Unknown type" in json.dumps(await fake.wait_for_response(slack.last_response_url))


def _email(sender: str, to: str, attachment: tuple[str, bytes] | None = None) -> bytes:
    message = EmailMessage()
    # the verdict of the receiving host the settings below trust (CLIENTBOT_EMAIL_AUTHSERV_ID)
    domain = sender.rpartition("@")[2].strip(">")
    message["Authentication-Results"] = f"mx.agency.example.com; dmarc=pass header.from={domain}"
    message["From"], message["To"], message["Subject"] = sender, to, "Offer letter for the analyst role"
    message["Message-ID"] = f"<offer-{abs(hash((sender, to)))}@agency.example.com>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    message.set_content("Please find the signed offer attached.")
    if attachment:
        message.add_attachment(attachment[1], maintype="application", subtype="pdf", filename=attachment[0])
    return message.as_bytes()


@pytest.fixture
def settings(settings):
    settings.email_secret = "s3cret"
    settings.email_authserv_id = frozenset({"mx.agency.example.com"})
    return settings


async def test_email_ingestion_matched_and_unmatched(app_url, rt) -> None:
    await _acme(rt)
    async with aiohttp.ClientSession() as http:

        async def post(raw: bytes, secret: str = "s3cret") -> tuple[int, dict]:
            async with http.post(
                f"{app_url}/integrations/email", data=raw, headers={"X-Clientbot-Secret": secret}
            ) as response:
                return response.status, await response.json()

        assert (await post(_email("a@b.com", "c@d.com"), secret="wrong"))[0] == 401
        offer = _email(
            "recruiter@agency.example.com", "John Doe <john@techcorp.example.com>", ("offer.pdf", PDF)
        )
        status, body = await post(offer)
        assert status == 201 and body["attachments"] == 1 and not body["already_logged"]
        status, again = await post(offer)  # a relay delivering the same message again
        assert status == 200 and again["already_logged"] and again["id"] == body["id"]
        status, body = await post(_email("someone@gmail.com", "nobody@unknown.example.com"))
        assert status == 422 and "No client matches" in body["error"]["message"]
        status, body = await post(
            _email("x@techcorp.example.com", "y@agency.example.com", ("virus.pdf", EXE))
        )
        assert status == 422
    [record] = await _stored(rt)
    assert record.communication_type == "email" and record.source == "email"
    assert record.subject == "Offer letter for the analyst role" and "signed offer" in record.notes


async def test_author_archives_from_the_timeline_and_others_cannot(slack, fake, rt) -> None:
    acme = await _acme(rt)
    async with rt.db.session() as session:
        author = await factories.user(session, RECRUITER, Role.RECRUITER)
        record = await communications.log(
            session,
            actor=author,
            client_id=acme.id,
            data=communications.parse_communication(
                {
                    "communication_type": "call",
                    "communication_date": "2026-03-01T10:00",
                    "subject": "Wrong client",
                }
            ),
        )
    option = {"value": f"ar:{record.id}", "text": {"type": "plain_text", "text": "Archive"}}
    url = fake.new_response_url()
    await slack.block_action("comm_entry_menu", user_id="USTRANGER", selected_option=option, response_url=url)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(url))
    url = fake.new_response_url()
    await slack.block_action("comm_entry_menu", user_id=RECRUITER, selected_option=option, response_url=url)
    prompt = await fake.wait_for_response(url)  # asks first, with a red button
    [go] = [e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("style")]
    assert go["style"] == "danger" and (await _stored(rt))[0].archived_at is None
    url = fake.new_response_url(prompt)
    await slack.block_action(go["action_id"], value=go["value"], user_id=RECRUITER, response_url=url)
    await fake.wait_for_response(url)
    assert "Archived" in json.dumps(fake.original(url))  # the prompt became the outcome
    [stored] = await _stored(rt)
    assert stored.archived_at is not None and stored.subject == "Wrong client"
    await slack.command(f"history {acme.client_code}", user_id=RECRUITER)
    assert "0 record(s)" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command(f"history {acme.client_code} archived", user_id=RECRUITER)
    assert "1 record(s)" in json.dumps(await fake.wait_for_response(slack.last_response_url))


async def test_global_shortcut_asks_for_the_client_first(slack, fake, rt) -> None:
    acme = await _acme(rt)
    await slack.shortcut("log_communication", user_id=RECRUITER)
    pick = await fake.filled(await fake.wait_for("views.open"))
    reply = await slack.view_submission(pick, {}, user_id=RECRUITER)
    assert reply.json["errors"] == {"client": "Pick a client."}
    values = {
        "client": {
            "client_picker": {
                "type": "external_select",
                "selected_option": {"value": str(acme.id), "text": {"type": "plain_text", "text": "Acme"}},
            }
        }
    }
    reply = await slack.view_submission(pick, values, user_id=RECRUITER)
    assert reply.json["view"]["callback_id"] == "comm_log_form" and "JOB-7" in json.dumps(reply.json["view"])


async def test_correction_is_a_new_record_referencing_the_old(slack, fake, rt) -> None:
    acme = await _acme(rt)
    async with rt.db.session() as session:
        author = await factories.user(session, RECRUITER, Role.RECRUITER)
        original = await communications.log(
            session,
            actor=author,
            client_id=acme.id,
            data=communications.parse_communication(
                {
                    "communication_type": "call",
                    "subject": "Budget 50k",
                    "communication_date": "2026-03-01T10:00",
                }
            ),
        )
    option = {"value": f"fix:{original.id}", "text": {"type": "plain_text", "text": "Log a correction"}}
    await slack.block_action("comm_entry_menu", user_id=RECRUITER, selected_option=option)
    form = await fake.filled(await fake.wait_for("views.open"))
    subject = next(b for b in form["blocks"] if b.get("block_id") == "subject")
    assert subject["element"]["initial_value"] == "Budget 50k" and "corrects an earlier one" in json.dumps(
        form
    )
    await slack.view_submission(
        form,
        slack.form_values(form, {"type": "call", "when": 1772352000, "subject": "Budget 60k"}),
        user_id=RECRUITER,
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    records = {r.subject: r for r in await _stored(rt)}
    assert records["Budget 60k"].supersedes_id == original.id and records["Budget 50k"].archived_at is None
