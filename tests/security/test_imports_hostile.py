"""Hostile input to the onboarding import (CLI service, `POST /api/clients/import`): formulas in cells,
oversize and disguised files, roles too low, tokens without the right."""

from __future__ import annotations

import csv
import io
import json

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.errors import PermissionDenied, ValidationFailed
from bot.models import AuditLog, Client, Role
from bot.services import client_imports, communication_imports
from tests import factories
from tests.test_api import Api, token
from tests.test_api import api as api  # a fixture

FORMULA = "=cmd|' /C calc'!A0"
GOOD = (
    "name,contact_name,contact_email,contact_phone,country\n"
    "Tyrell Corp,Rachael Tyrell,rachael@tyrell.example.com,+1 415 555 2671,US\n"
)


async def clients_count(db) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(Client))


async def test_formulas_are_stored_as_text_and_neutralised_in_the_refused_lines_report(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    text = (
        "name,contact_name,contact_email,industry\n"
        f'"{FORMULA}",Eve,eve@formula.example.com,"+SUM(A1:A9)"\n'
        '"@HYPERLINK(""http://evil.example.com"",""click"")",Mallory,not-an-email,"-2+3"\n'
    )
    report = await client_imports.import_clients(db, data=text.encode(), actor_id=manager.id)
    assert report.counts == {"created": 1, "updated": 0, "duplicate": 0, "refused": 1}
    async with db.session() as session:
        stored = (await session.scalars(select(Client))).one()
    assert (stored.name, stored.industry) == (FORMULA, "+SUM(A1:A9)")  # data, kept verbatim

    refused = list(csv.reader(io.StringIO(report.refused_csv())))
    assert refused[0] == ["line", "problems", "name", "contact_name", "contact_email", "industry"]
    line = refused[1]
    assert line[0] == "3" and line[2].startswith("'@HYPERLINK(") and line[5] == "'-2+3"
    for cell in (c for row in refused for c in row):
        assert not cell.startswith(("=", "+", "-", "@")), cell


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04" + b"\x00" * 200, "Excel workbook"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "PNG image"),
        (b"name,contact_email\n\x00\x01\x02\x03binary\xff\xfe\x00\x00garbage\n" * 20, "not a CSV text file"),
        (b"MZ\x90\x00\x03" + b"\x00" * 64, "a program"),
    ],
)
async def test_binary_disguised_as_csv_is_refused_whole(db, content: bytes, message: str) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    with pytest.raises(ValidationFailed) as refused:
        await client_imports.import_clients(db, data=content, actor_id=manager.id)
    assert message in refused.value.fields["file"]
    assert await clients_count(db) == 0


async def test_oversize_file_is_refused_before_parsing(db) -> None:
    async with db.session() as session:
        manager = await factories.user(session, "UMANAGER", Role.MANAGER)
    big = GOOD.encode() + b"x" * client_imports.UPLOAD_MAX_BYTES
    with pytest.raises(ValidationFailed) as refused:
        await client_imports.import_clients(
            db, data=big, actor_id=manager.id, max_bytes=client_imports.UPLOAD_MAX_BYTES
        )
    assert "larger than 10 MB" in refused.value.fields["file"]


@pytest.mark.parametrize("guest", [False, True])
async def test_a_recruiter_or_a_guest_manager_cannot_import(db, guest: bool) -> None:
    async with db.session() as session:
        recruiter = await factories.user(session, "UGUEST", Role.MANAGER if guest else Role.RECRUITER)
        recruiter.is_guest = guest
    for dry_run in (True, False):
        with pytest.raises(PermissionDenied):
            await client_imports.import_clients(
                db, data=GOOD.encode(), actor_id=recruiter.id, dry_run=dry_run
            )
        with pytest.raises(PermissionDenied):
            await communication_imports.import_communications(
                db, data=b"client_code,type,date\n", actor_id=recruiter.id
            )
    assert await clients_count(db) == 0


async def upload(api: Api, bearer: str | None, content: bytes, **fields: str) -> tuple[int, dict]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename="clients.csv", content_type="text/csv")
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with api.http.post(f"{api.base}/api/clients/import", data=form, headers=headers) as response:
        return response.status, await response.json()


async def test_api_import_dry_run_then_real(api: Api, rt, db) -> None:
    manager = await token(rt, Role.MANAGER)
    status, body = await upload(api, manager, GOOD.encode("cp1252"), dry_run="true")
    assert status == 200, body
    assert body["dry_run"] and body["counts"]["created"] == 1 and body["clients"][0]["lines"] == [2]
    assert await clients_count(db) == 0
    status, body = await upload(api, manager, GOOD.encode())
    assert status == 200 and body["clients"][0]["client_code"].startswith("CLT-"), body
    assert await clients_count(db) == 1
    status, body = await upload(api, manager, GOOD.encode())
    assert body["counts"] == {"created": 0, "updated": 0, "duplicate": 1, "refused": 0}


async def test_api_import_refuses_tokens_without_rights_and_hostile_uploads(api: Api, rt, db) -> None:
    assert (await upload(api, None, GOOD.encode()))[0] == 401
    assert (await upload(api, "cbt_forged", GOOD.encode()))[0] == 401
    status, body = await upload(api, await token(rt, Role.RECRUITER), GOOD.encode())
    assert status == 403 and body["error"]["code"] == "forbidden"
    manager = await token(rt, Role.MANAGER)
    assert (await upload(api, manager, b"a" * (client_imports.UPLOAD_MAX_BYTES + 1)))[0] == 413
    status, body = await upload(api, manager, b"PK\x03\x04" + b"\x00" * 100)
    assert status == 422 and "Excel" in body["error"]["fields"]["file"]
    headers = {"Authorization": f"Bearer {manager}"}
    async with api.http.post(
        f"{api.base}/api/clients/import", json={"file": "x"}, headers=headers
    ) as response:
        assert response.status == 415
    assert await clients_count(db) == 0
    async with db.session() as session:  # nothing written for the refused calls, not even an audit entry
        assert await session.scalar(select(func.count()).select_from(AuditLog)) == 0


async def slack_preview(slack, fake, form: dict, file: dict, user_id: str = "UMANAGER") -> dict:
    reply = await slack.view_submission(form, slack.form_values(form, {"file": [file]}), user_id=user_id)
    external_id = reply.json["view"]["external_id"]
    update = await fake.wait_for(
        "views.update", lambda c: c.params.get("external_id") == external_id, timeout=20
    )
    return update.params["view"]


async def test_slack_import_refuses_hostile_files_and_other_roles(slack, fake, rt, db) -> None:
    async with db.session() as session:
        await factories.user(session, "UMANAGER", Role.MANAGER)
        await factories.user(session, "URECRUITER", Role.RECRUITER)
    await slack.command("import", user_id="UMANAGER")
    form = await fake.filled(await fake.wait_for("views.open"))

    cases = [
        (
            fake.add_file("big.csv", b"a" * (client_imports.UPLOAD_MAX_BYTES + 1), "text/csv", "csv"),
            "larger than 10 MB",
        ),
        (fake.add_file("logo.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 300, "text/csv", "csv"), "PNG image"),
        (fake.add_file("book.csv", b"PK\x03\x04" + b"\x00" * 300, "text/csv", "csv"), "Excel workbook"),
        (fake.add_file("secret.csv", GOOD.encode(), "text/csv", "csv", accessible=False), "sign-in page"),
        (
            fake.add_file(
                "elsewhere.csv",
                GOOD.encode(),
                "text/csv",
                "csv",
                url_private="https://evil.example.com/f.csv",
            ),
            "not stored on Slack's file host",
        ),
    ]
    for file, reason in cases:
        problem = await slack_preview(slack, fake, form, file)
        assert problem["callback_id"] == "client_import_problem", (reason, problem)
        assert reason in json.dumps(problem), (reason, problem)

    # A recruiter replaying the manager's form or preview gets the refusal and writes nothing.
    good = fake.add_file("good.csv", GOOD.encode(), "text/csv", "csv")
    problem = await slack_preview(slack, fake, form, good, user_id="URECRUITER")
    assert "Only an HR Manager" in json.dumps(problem)
    preview = await slack_preview(slack, fake, form, good)
    assert preview["callback_id"] == "client_import_confirm"
    fake.calls.clear()
    await slack.view_submission(preview, {}, user_id="URECRUITER")
    dm = await fake.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "URECRUITER")
    assert "Only an HR Manager" in dm.params["text"]
    assert await clients_count(db) == 0
