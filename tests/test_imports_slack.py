"""`/client import` in Slack: a file_input modal, the dry-run preview pushed over it, then *Import*; the
result and the refused lines come by DM."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from bot.models import Client, ClientContact, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER
from tests.test_client_imports import HUBSPOT_HEADER, HUBSPOT_ROWS, csv_bytes


async def open_form(slack, fake) -> dict:
    fake.calls.clear()
    await slack.command("import", user_id=MANAGER)
    return await fake.filled(await fake.wait_for("views.open"))


async def preview_of(slack, fake, form: dict, file: dict, update: bool = False) -> dict:
    values = slack.form_values(form, {"file": [file], "update": update})
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert reply.json["response_action"] == "push", reply.json
    external_id = reply.json["view"]["external_id"]
    done = await fake.wait_for(
        "views.update", lambda c: c.params.get("external_id") == external_id, timeout=20
    )
    return done.params["view"]


async def client_count(rt) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(Client))


async def test_import_from_slack_preview_then_import_then_dm(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    form = await open_form(slack, fake)
    assert form["callback_id"] == "client_import_form"
    element = next(b for b in form["blocks"] if b["block_id"] == "file")["element"]
    assert element["type"] == "file_input" and element["max_files"] == 1
    data = csv_bytes(HUBSPOT_HEADER, HUBSPOT_ROWS, delimiter=";", encoding="cp1252")
    file = fake.add_file("hubspot-contacts.csv", data, "text/csv", "csv")

    preview = await preview_of(slack, fake, form, file)
    text = json.dumps(preview, ensure_ascii=False)
    assert preview["callback_id"] == "client_import_confirm" and preview["submit"]["text"] == "Import"
    assert "*3* would be created" in text and "Société Générale" in text
    assert "line 5: contact_phone" in text and "line 6: contact_email" in text
    assert await client_count(rt) == 0  # the preview wrote nothing

    fake.calls.clear()
    reply = await slack.view_submission(preview, {}, user_id=MANAGER)
    assert reply.json["response_action"] == "update"
    done = await fake.wait_for(
        "views.update", lambda c: c.params["view"]["callback_id"] == "client_import_done", timeout=20
    )
    assert "*3* created" in json.dumps(done.params["view"], ensure_ascii=False)
    dm = await fake.wait_for("chat.postMessage", lambda c: c.params.get("channel") == MANAGER)
    assert "3 created" in dm.params["text"] and "2 line(s) refused" in dm.params["text"]
    await fake.wait_for("files.completeUploadExternal")
    refused = next(u for u in fake.uploaded_files() if u.filename == "refused-lines.csv")
    report = refused.content.decode("utf-8-sig")
    assert (
        report.splitlines()[0].startswith("line,problems,Record ID") and "\n5," in report and "\n6," in report
    )
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ClientContact)) == 4
        creator = await session.scalar(select(Client.created_by).limit(1))
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        assert creator == manager.id


async def test_only_managers_may_open_the_import(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, RECRUITER, Role.RECRUITER)
    await slack.command("import", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    notice = await fake.wait_for("views.update")
    assert notice.params["view"]["callback_id"] == "notice"
