"""Replicas as they run in production: real `clientbot serve` processes on one database and one S3 bucket
(moto on loopback), driven round-robin as a load balancer would; and a replica told to stop (SIGTERM) in
the middle of work it had acked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.models import AppState, Client, ClientCommunication, Role, ScheduledRun, SlackDelivery
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import ADMIN, BOT_TOKEN, MANAGER, RECRUITER, SIGNING_SECRET
from tests.slack_client import SlackClient
from tests.test_clients_slack import GOOD_FORM
from tests.test_communications_slack import FORM

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4000 + b"%%EOF\n"


@pytest.fixture
def settings(settings, s3_url):
    return settings.model_copy(update={"storage_url": s3_url})


@dataclass
class Replica:
    name: str
    process: asyncio.subprocess.Process
    url: str
    slack: SlackClient
    log: Path

    async def get(self, path: str) -> int:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as response:
            return response.status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _start(name: str, settings, fake, s3_env: dict[str, str], tmp_path: Path, **extra: str) -> Replica:
    port = _free_port()
    env = cli_env(
        {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CLIENTBOT_"))}
        | s3_env
        | {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "DATABASE_URL": settings.database_url,
            "CLIENTBOT_ADMINS": ADMIN,
            "CLIENTBOT_STORAGE_URL": settings.storage_url,
            "CLIENTBOT_SLACK_FILE_HOSTS": f"https://files.slack.com,{fake.base_url}",
            "CLIENTBOT_DIGEST_CHANNEL": "CDIGEST",
            "PORT": str(port),
        }
        | extra
    )
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            # One process per replica, as a replica container runs it (`--workers N` puts gunicorn in front,
            # which closes the listening socket at SIGTERM instead of answering /readyz 503).
            *cli_argv("serve", "--workers", "1"),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{port}"
    replica = Replica(name, process, url, SlackClient(url, SIGNING_SECRET, fake), log)
    for _ in range(600):
        if process.returncode is not None:
            raise AssertionError(f"replica {name} exited: {log.read_text()[-3000:]}")
        try:
            if await replica.get("/readyz") == 200:
                return replica
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"replica {name} did not start: {log.read_text()[-3000:]}")


async def _stop(replica: Replica) -> int:
    await replica.slack.close()
    if replica.process.returncode is None:
        replica.process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(replica.process.wait(), timeout=60)
    except TimeoutError:
        replica.process.kill()
        raise


async def _count(rt, model, *where) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def _open_modal(replica: Replica, fake, command: str, user_id: str) -> dict:
    before = len(fake.calls_to("views.open"))
    await replica.slack.command(command, user_id=user_id)
    call = await fake.wait_for("views.open", lambda c: fake.calls_to("views.open").index(c) >= before)
    return await fake.filled(call)


async def test_two_replicas_behind_a_load_balancer(fake, rt, settings, s3_env, is_postgres, tmp_path) -> None:
    if not is_postgres:
        pytest.skip(
            "replicas share PostgreSQL (advisory locks, row locks); CI runs this with TEST_DATABASE_URL"
        )
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.user(session, ADMIN, Role.ADMIN)
        acme = await factories.client(session, manager, "Acme")
        # Installed a month ago: each replica's scheduler catches up the digest due since, at the same time.
        await session.merge(
            AppState(key="installed_at", value=(datetime.now(UTC) - timedelta(days=30)).isoformat())
        )
    a, b = await asyncio.gather(
        _start("a", settings, fake, s3_env, tmp_path), _start("b", settings, fake, s3_env, tmp_path)
    )
    try:
        # A file logged through A downloads through B (one bucket).
        view = await _open_modal(a, fake, f"log {acme.client_code}", RECRUITER)
        pdf = fake.add_file("proposal.pdf", PDF, "application/pdf", "pdf")
        values = a.slack.form_values(view, FORM | {"type": "meeting", "attachments": [pdf]})
        await a.slack.view_submission(view, values, user_id=RECRUITER)
        await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged", 20)
        await b.slack.command(f"history {acme.client_code}", user_id=MANAGER)
        timeline = await fake.wait_for_response(b.slack.last_response_url)
        menu = next(
            x["accessory"] for x in timeline["blocks"] if x.get("accessory", {}).get("type") == "overflow"
        )
        download = next(o for o in menu["options"] if o["value"].startswith("dl:"))
        await b.slack.block_action(
            "comm_entry_menu", user_id=MANAGER, selected_option=download, message=timeline
        )
        await fake.wait_for("files.completeUploadExternal", lambda c: "proposal.pdf" in str(c.params), 20)
        [upload] = [u for u in fake.uploaded_files() if u.filename == "proposal.pdf"]
        assert upload.content == PDF and upload.channel_id.startswith("D")

        # The same event delivered to A, and Slack's retry of it to B: handled once.
        publishes = len(fake.calls_to("views.publish"))
        await a.slack.event(
            {"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"}, "EvR1"
        )
        await fake.wait_for("views.publish", lambda c: len(fake.calls_to("views.publish")) > publishes, 20)
        b.slack._last = a.slack._last
        retry = await b.slack.retry_last(retry_num=1)
        assert (retry.status, retry.body) == (200, "")
        await asyncio.sleep(1)
        assert len(fake.calls_to("views.publish")) == publishes + 1
        assert await _count(rt, SlackDelivery) >= 1

        # New-client modals opened through one replica and submitted through the other, all at once: each
        # client is created once, and the codes are consecutive with no duplicate.
        views = []
        for n in range(6):
            opener = (a, b)[n % 2]
            views.append(await _open_modal(opener, fake, "new", MANAGER))
        forms = [
            GOOD_FORM
            | {
                "name": f"Replica Test {n} Ltd",
                "website": f"https://replica{n}.example.com",
                "contact_0_email": f"hr@replica{n}.example.com",
                "account_manager": None,
            }
            for n in range(6)
        ]
        replies = await asyncio.gather(
            *(
                (b, a)[n % 2].slack.view_submission(view, a.slack.form_values(view, form), user_id=MANAGER)
                for n, (view, form) in enumerate(zip(views, forms, strict=True))
            )
        )
        assert all(r.status == 200 for r in replies)
        for _ in range(200):
            if await _count(rt, Client) == 7:
                break
            await asyncio.sleep(0.1)
        async with rt.db.session() as session:
            clients = list(await session.scalars(select(Client).order_by(Client.client_code)))
        names = sorted(c.name for c in clients)
        assert names == sorted(["Acme", *(f["name"] for f in forms)])
        codes = [c.client_code for c in clients]
        numbers = [int(code.rsplit("-", 1)[1]) for code in codes]
        assert len(set(codes)) == 7 and numbers == list(range(numbers[0], numbers[0] + 7))

        # Both schedulers caught up the weekly digest on start: one post per period, from one of them.
        for _ in range(300):
            if await _count(
                rt, ScheduledRun, ScheduledRun.job == "weekly_digest", ScheduledRun.finished_at.isnot(None)
            ):
                break
            await asyncio.sleep(0.1)
        digests = [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == "CDIGEST"]
        assert len(digests) == 1, [d.params.get("text") for d in digests]
    finally:
        codes = await asyncio.gather(_stop(a), _stop(b))
    assert codes == [0, 0], (a.log.read_text()[-2000:], b.log.read_text()[-2000:])


async def test_sigterm_finishes_acked_work_then_exits_zero(fake, rt, settings, s3_env, tmp_path) -> None:
    """SIGTERM while an export waits on Slack's upload URL and a log submission waits on its attachment:
    /readyz turns 503 at once, /healthz stays 200, new requests are refused, both pieces of work complete
    once Slack answers, and the process exits 0 with nothing half-written."""
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        acme = await factories.client(session, manager, "Acme")
    replica = await _start(
        "a", settings, fake, s3_env, tmp_path, CLIENTBOT_SHUTDOWN_GRACE="30", CLIENTBOT_LOG_FORMAT="json"
    )
    try:
        view = await _open_modal(replica, fake, f"log {acme.client_code}", RECRUITER)
        fake.gates["files.info"] = asyncio.Event()
        fake.gates["files.getUploadURLExternal"] = asyncio.Event()
        pdf = fake.add_file("minutes.pdf", PDF, "application/pdf", "pdf")
        values = replica.slack.form_values(view, FORM | {"type": "call", "attachments": [pdf]})
        assert (await replica.slack.view_submission(view, values, user_id=RECRUITER)).status == 200
        await replica.slack.command(f"export {acme.client_code}", user_id=MANAGER)
        await fake.wait_for("files.info", timeout=20)
        await fake.wait_for("files.getUploadURLExternal", timeout=60)  # the PDF is built, its upload held

        replica.process.send_signal(signal.SIGTERM)
        for _ in range(100):
            if await replica.get("/readyz") == 503:
                break
            await asyncio.sleep(0.05)
        assert await replica.get("/readyz") == 503 and await replica.get("/healthz") == 200
        refused = await replica.slack.command(f"show {acme.client_code}", user_id=MANAGER)
        assert refused.status == 503
        await asyncio.sleep(1)
        assert replica.process.returncode is None  # still finishing what it acked

        fake.gates["files.info"].set()
        fake.gates["files.getUploadURLExternal"].set()
        assert await asyncio.wait_for(replica.process.wait(), timeout=60) == 0, replica.log.read_text()[
            -3000:
        ]
    finally:
        for gate in fake.gates.values():
            gate.set()
        await _stop(replica)
    [record] = await _stored(rt)
    [meta] = record.attachments
    assert await rt.storage.get(meta["storage_key"]) == PDF
    assert [key async for key in rt.storage.stored_keys()] == [meta["storage_key"]]
    assert any(c.params.get("files") for c in fake.calls_to("files.completeUploadExternal"))
    [export] = [u for u in fake.uploaded_files() if u.filename.endswith(".pdf")]
    assert export.content.startswith(b"%PDF") and export.channel_id.startswith("D")
    # JSON lines: the stop is logged, and each Slack request with its id, user, command and duration.
    logged = [json.loads(line) for line in replica.log.read_text().splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in logged]
    assert any(m.startswith("stopping: draining") for m in messages) and "stopped" in messages
    # Start-up's objects were frozen before serving: full collections no longer walk them (issue 14).
    assert any(m.startswith("start-up heap frozen: ") for m in messages)
    export = next(e for e in logged if e.get("command") == "client export" and "duration_ms" in e)
    assert export["user"] == MANAGER and export["request_id"] and export["duration_ms"] > 1000


async def _stored(rt) -> list[ClientCommunication]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(ClientCommunication)))


async def test_a_send_cut_short_by_shutdown_releases_its_claim(rt) -> None:
    """A replica whose grace period ran out cancels the scheduled run mid-send: the recipient's claim is
    released, so the next run (on any replica) sends that message instead of skipping it for good."""
    from bot.scheduler import deliver

    started = asyncio.Event()

    async def slow_send() -> None:
        started.set()
        await asyncio.sleep(60)

    async def quick_send() -> None:
        return None

    run = asyncio.create_task(
        deliver(rt, "weekly_digest", "2030-W01", {"CFIRST": quick_send, "CSLOW": slow_send})
    )
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    async with rt.db.session() as session:
        keys = list(await session.scalars(select(ScheduledRun.period_key)))
    assert keys == ["2030-W01:CFIRST"]
    sent, failed = await deliver(rt, "weekly_digest", "2030-W01", {"CFIRST": quick_send, "CSLOW": quick_send})
    assert (sent, failed) == (["CSLOW"], [])
