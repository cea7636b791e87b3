"""Issue 11 item 9: image bombs. A logo's pixel size is bounded at upload (read from the header, nothing
decoded); PDFs only ever draw a bounded, downscaled copy of a stored logo; a decompression bomb anywhere is
a field error, never a 500."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import aiohttp
from pypdf import PdfReader
from sqlalchemy import select

from bot.models import Client, ClientCommunication, Role
from bot.services import api_tokens
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import MANAGER
from tests.security import hostile_files
from tests.test_clients_slack import GOOD_FORM, open_new_client_modal, submit


async def _manager(rt):
    async with rt.db.session() as session:
        return await factories.user(session, MANAGER, Role.MANAGER)


async def _clients(rt) -> list[Client]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(Client)))


async def test_a_6000_px_logo_of_4_kb_is_refused_in_the_modal(slack, fake, rt) -> None:
    """4.4 KB on disk, 36 Mpx: reportlab would decode ~108 MB (RGB) for a 30 mm logo."""
    await _manager(rt)
    bomb = hostile_files.pillow_png((6000, 6000))
    assert len(bomb) < 5000
    view = await open_new_client_modal(slack, fake)
    logo = fake.add_file("logo.png", bomb, "image/png", "png")
    reply = await submit(slack, view, GOOD_FORM | {"logo": [logo]})
    assert reply.status == 200 and reply.json["response_action"] == "errors"
    assert reply.json["errors"]["logo"] == "The logo is 6000×6000 pixels: use one of at most 2048×2048."
    assert await _clients(rt) == []


async def test_a_400_mpx_logo_is_a_field_error_not_a_crash(slack, fake, rt) -> None:
    """20000 x 20000: Pillow's own DecompressionBombError (over 2 x 89 Mpx) used to escape the handler."""
    await _manager(rt)
    bomb = hostile_files.png_bomb(20000, 20000)
    assert len(bomb) < 60_000
    view = await open_new_client_modal(slack, fake)
    logo = fake.add_file("logo.png", bomb, "image/png", "png")
    reply = await submit(slack, view, GOOD_FORM | {"logo": [logo]})
    assert reply.status == 200 and reply.json["response_action"] == "errors"
    assert "pixels" in reply.json["errors"]["logo"]
    assert await _clients(rt) == []


async def test_a_400_mpx_png_attachment_is_a_422_not_a_500(rt, app_url) -> None:
    manager = await _manager(rt)
    async with rt.db.session() as session:
        acme = await factories.client(session, manager, "Acme")
        token, _ = await api_tokens.create(session, name="ATS", role=Role.MANAGER)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{app_url}/api/clients/{acme.client_code}/communications"
    async with aiohttp.ClientSession() as http:
        body = {
            "communication_type": "meeting",
            "communication_date": "2026-03-02T10:00:00Z",
            "subject": "Hi",
        }
        async with http.post(base, json=body, headers=headers) as response:
            record = await response.json()
        form = aiohttp.FormData()
        form.add_field("file", hostile_files.png_bomb(20000, 20000), filename="scan.png")
        async with http.post(f"{base}/{record['id']}/attachments", data=form, headers=headers) as response:
            status, answer = response.status, await response.json()
    assert status == 422, answer
    assert "pixels" in answer["error"]["fields"]["attachments"]
    async with rt.db.session() as session:
        assert (await session.scalar(select(ClientCommunication))).attachments == []


def _pdf_images(path: Path) -> list[tuple[int, int]]:
    """(width, height) of every image drawn in the PDF, read from the XObjects without decoding them."""
    sizes = []
    for page in PdfReader(path).pages:
        objects = page.get("/Resources", {}).get("/XObject", {})
        for ref in objects.values():
            xobject = ref.get_object()
            if xobject.get("/Subtype") == "/Image":
                sizes.append((int(xobject["/Width"]), int(xobject["/Height"])))
    return sizes


async def _report_with_logo(rt, database_url: str, tmp_path: Path, logo: bytes) -> tuple[int, str, Path]:
    """A client whose stored logo predates the upload bound, exported with `clientbot report`."""
    manager = await _manager(rt)
    key = (await rt.storage.put(logo, kind="logos", extension="png", mime="image/png")).key
    async with rt.db.session() as session:
        acme = await factories.client(session, manager, "Acme")
        (await session.get(Client, acme.id)).logo_url = key
    out = tmp_path / "acme.pdf"
    env = {**os.environ, "DATABASE_URL": database_url, "CLIENTBOT_STORAGE_DIR": str(rt.storage.root)}
    result = await asyncio.to_thread(
        subprocess.run,
        cli_argv("report", acme.client_code, "--out", str(out)),
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return result.returncode, result.stderr, out


async def test_pdf_draws_a_downscaled_logo(rt, database_url, tmp_path) -> None:
    """A logo within bounds is drawn from a copy at most 600 px a side (30 mm at 500 dpi)."""
    code, stderr, out = await _report_with_logo(
        rt, database_url, tmp_path, hostile_files.pillow_png((1600, 900))
    )
    assert code == 0, stderr
    images = _pdf_images(out)
    assert (600, 338) in images and (1600, 900) not in images, images


async def test_pdf_never_decodes_a_stored_image_bomb(rt, database_url, tmp_path) -> None:
    """A 6000 x 6000 logo stored before uploads were bounded: the PDF leaves it out (main drew all 36 Mpx)."""
    code, stderr, out = await _report_with_logo(
        rt, database_url, tmp_path, hostile_files.pillow_png((6000, 6000))
    )
    assert code == 0, stderr
    assert all(w * h < 4_000_000 for w, h in _pdf_images(out)), _pdf_images(out)


async def test_pdf_survives_a_stored_decompression_bomb(rt, database_url, tmp_path) -> None:
    """400 Mpx: reportlab's Pillow call raised DecompressionBombError and the report always failed."""
    code, stderr, out = await _report_with_logo(
        rt, database_url, tmp_path, hostile_files.png_bomb(20000, 20000)
    )
    assert code == 0, stderr
    text = "".join(p.extract_text() for p in PdfReader(out).pages)
    assert "Acme" in text and "Key figures" in text
