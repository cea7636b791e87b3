"""Object storage (CLIENTBOT_STORAGE_URL): the same tests on a local directory and on an S3-compatible
server (moto, on loopback), through the store itself, the app and `clientbot storage migrate`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from bot.filestore import CHUNK, LocalStorage, StorageError, open_storage
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import MANAGER, RECRUITER
from tests.test_communications_slack import FORM, _acme, _open_log, _stored

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _big_pdf(size: int) -> bytes:
    body = os.urandom(size)
    return b"%PDF-1.4\n" + body + b"\n%%EOF\n"


@pytest.fixture
def settings(settings, storage_url):
    return settings.model_copy(update={"storage_url": storage_url})


async def test_put_is_content_addressed_idempotent_and_streamed(storage_url: str) -> None:
    store = open_storage(storage_url)
    try:
        big = _big_pdf(3 * CHUNK + 17)
        saved = await store.put(big, kind="attachments", extension="pdf", mime="application/pdf")
        digest = hashlib.sha256(big).hexdigest()
        assert (saved.key, saved.sha256, saved.size) == (
            f"attachments/{digest[:2]}/{digest}.pdf",
            digest,
            len(big),
        )
        assert await store.put(big, kind="attachments", extension="pdf", mime="application/pdf") == saved
        assert await store.exists(saved.key)
        chunks = [chunk async for chunk in store.stream(saved.key)]
        assert len(chunks) >= 4 and max(map(len, chunks)) <= CHUNK and b"".join(chunks) == big
        assert [key async for key in store.stored_keys()] == [saved.key]
        if storage_url.startswith("s3:"):  # the upload carried its SHA-256 for the server to check
            head = await (await store._client()).head_object(
                Bucket=store.bucket, Key=store.prefix + saved.key, ChecksumMode="ENABLED"
            )
            assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(big).digest()).decode()
            assert head["ContentLength"] == len(big)
        missing = f"attachments/{'0' * 2}/{'0' * 64}.pdf"
        assert not await store.exists(missing)
        with pytest.raises(StorageError):
            await store.get(missing)
        with pytest.raises(ValueError):
            await store.get(saved.key, max_bytes=1024)
    finally:
        await store.close()


async def test_a_file_logged_through_slack_downloads_from_the_store(slack, fake, rt, storage_url) -> None:
    assert rt.storage.url.startswith(storage_url.split(":")[0])
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    big = _big_pdf(2 * 1024 * 1024)
    pdf = fake.add_file("proposal.pdf", big, "application/pdf", "pdf")
    await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "meeting", "attachments": [pdf]}), user_id=RECRUITER
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    [record] = await _stored(rt)
    meta = record.attachments[0]
    assert meta["size"] == len(big), meta
    assert meta["sha256"] == hashlib.sha256(big).hexdigest() and await rt.storage.exists(meta["storage_key"])
    if storage_url.startswith("file:"):
        assert (Path(storage_url[len("file://") :]) / meta["storage_key"]).read_bytes() == big

    await slack.command(f"history {acme.client_code}", user_id=MANAGER)
    timeline = await fake.wait_for_response(slack.last_response_url)
    menu = next(
        b["accessory"] for b in timeline["blocks"] if b.get("accessory", {}).get("type") == "overflow"
    )
    download = next(o for o in menu["options"] if o["value"].startswith("dl:"))
    await slack.block_action("comm_entry_menu", user_id=MANAGER, selected_option=download, message=timeline)
    await fake.wait_for("files.completeUploadExternal")
    [upload] = fake.uploaded_files()
    assert upload.content == big and upload.filename == "proposal.pdf" and upload.channel_id.startswith("D")


async def _migrate(source_url: str, target_url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = cli_env(
        {
            **os.environ,
            "CLIENTBOT_STORAGE_URL": source_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        }
    )
    return await asyncio.to_thread(
        subprocess.run,
        cli_argv("storage", "migrate", "--to", target_url),
        env=env,
        capture_output=True,
        text=True,
    )


async def test_storage_migrate_copies_and_verifies_both_ways(s3_url: str, tmp_path: Path) -> None:
    local = LocalStorage(tmp_path / "old")
    files = [
        await local.put(PDF, kind="attachments", extension="pdf", mime="application/pdf"),
        await local.put(_big_pdf(CHUNK * 2), kind="logos", extension="png", mime="image/png"),
    ]
    done = await _migrate(local.url, s3_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 copied" in done.stdout
    bucket = open_storage(s3_url)
    try:
        assert sorted([key async for key in bucket.stored_keys()]) == sorted(f.key for f in files)
        for stored in files:
            assert await bucket.get(stored.key) == await local.get(stored.key)
    finally:
        await bucket.close()
    again = await _migrate(local.url, s3_url, tmp_path)
    assert again.returncode == 0 and "0 copied" in again.stdout and "2 already there" in again.stdout

    back = (tmp_path / "back").as_uri()
    done = await _migrate(s3_url, back, tmp_path)
    assert done.returncode == 0, done.stderr
    for stored in files:
        assert (tmp_path / "back" / stored.key).read_bytes() == await local.get(stored.key)


async def test_storage_migrate_refuses_a_file_that_no_longer_matches_its_hash(storage_url, tmp_path) -> None:
    local = LocalStorage(tmp_path / "old")
    stored = await local.put(PDF, kind="attachments", extension="pdf", mime="application/pdf")
    (local.root / stored.key).write_bytes(PDF + b"tampered")
    done = await _migrate(local.url, storage_url, tmp_path)
    assert done.returncode == 1 and "does not match its hash" in done.stderr
    target = open_storage(storage_url)
    try:
        assert not await target.exists(stored.key)
    finally:
        await target.close()
