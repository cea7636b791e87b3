"""Object storage under attack, on both backends (a directory and an S3 bucket): keys are made from the
bytes, never from what a user sends, nothing outside the store can be named, and a file larger than
allowed is refused before anything is stored, even when Slack's files.info understates its size."""

from __future__ import annotations

import pytest

from bot.filestore import checked_key, open_storage
from tests.conftest import RECRUITER
from tests.test_communications_slack import FORM, _acme, _open_log, _stored

PDF = b"%PDF-1.4\n%%EOF\n"
HOSTILE_KEYS = [
    "../../etc/passwd",
    "/etc/passwd",
    "attachments/../../../etc/passwd",
    "attachments/ab/../../../x.pdf",
    "attachments/00/" + "1" * 64 + ".pdf",  # the prefix must be the digest's first two characters
    "attachments/11/" + "1" * 64 + ".pdf/../x",
    "logos/11/" + "1" * 64 + ".PDF",
    "other/11/" + "1" * 64 + ".pdf",
    "attachments\\11\\" + "1" * 64 + ".pdf",
    "attachments/11/" + "1" * 64 + ".pdf\n",
    "",
]


@pytest.fixture
def settings(settings, storage_url):
    return settings.model_copy(update={"storage_url": storage_url})


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_no_key_outside_the_content_addressed_layout_is_accepted(storage_url, key) -> None:
    store = open_storage(storage_url)
    try:
        with pytest.raises(ValueError):
            checked_key(key)
        with pytest.raises(ValueError):
            await store.exists(key)
        with pytest.raises(ValueError):
            await store.get(key)
    finally:
        await store.close()


async def test_the_key_comes_from_the_bytes_not_the_name(slack, fake, rt) -> None:
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    sneaky = fake.add_file("..\\..\\logos\\aa\\evil.pdf", PDF, "application/pdf", "pdf")
    await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "email", "attachments": [sneaky]}), user_id=RECRUITER
    )
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    [record] = await _stored(rt)
    meta = record.attachments[0]
    assert meta["storage_key"] == f"attachments/{meta['sha256'][:2]}/{meta['sha256']}.pdf"
    assert [key async for key in rt.storage.stored_keys()] == [meta["storage_key"]]


async def test_an_oversize_file_is_refused_before_anything_is_stored(slack, fake, rt) -> None:
    """files.info claims 100 bytes; the download itself is 10 MB + 1: read no further, store nothing."""
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    big = fake.add_file("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024 - 4), "application/pdf", "pdf")
    fake.files[big["id"]][0]["size"] = 100
    await slack.view_submission(
        view, slack.form_values(view, FORM | {"type": "email", "attachments": [big]}), user_id=RECRUITER
    )
    form = await fake.wait_for(
        "views.update",
        lambda c: c.params["view"]["callback_id"] == "comm_log_form" and "Nothing was saved" in str(c.params),
    )
    assert "big.pdf" in str(form.params)
    assert await _stored(rt) == []
    assert [key async for key in rt.storage.stored_keys()] == []
