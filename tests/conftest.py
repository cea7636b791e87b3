"""Fixtures: a migrated test database (PostgreSQL or SQLite), the fake Slack Web API, and the real app
served on loopback, driven by signed requests."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from aiohttp import web
from sqlalchemy import text

from bot.app import create_bolt_app, create_web_app
from bot.config import Settings
from bot.db import Database, migrate
from bot.models import Base
from bot.runtime import Runtime
from bot.storage import LocalStorage, open_storage
from tests.clientbot_at import ZYGOTE_VARIABLE
from tests.slack_client import SlackClient
from tests.slack_fake import FakeSlack

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
ADMIN, MANAGER, RECRUITER = "UADMIN", "UMANAGER", "URECRUITER"
# Workspace members every test may use (tests/slack_fake.py answers user_not_found for anyone else).
GUEST = "UGUEST"  # a Slack guest (restricted account)
KNOWN_USERS = (ADMIN, MANAGER, RECRUITER, "UMANAGER2", "UOTHERMGR", "UCOLLEAGUE", "USTRANGER")

# The instant every test starts at. CI runs the suite a second time with CLIENTBOT_TEST_NOW far from this
# one (and the machine's clock and time zone moved too), so no test can lean on a date, year or weekday.
TEST_NOW = datetime.fromisoformat(os.environ.get("CLIENTBOT_TEST_NOW") or "2026-11-30T10:00:00+00:00")


FREEZE_EVERY = 25  # tests between two settlings of the heap (each costs a full collection)
_tests_since_freeze = FREEZE_EVERY


@pytest.fixture(autouse=True)
def settled_heap() -> None:
    """Every FREEZE_EVERY tests, what earlier tests left is collected, and what survives is frozen out of
    the collector's sight (`gc.freeze`, as `clientbot serve` does at start: bot/memory.py). The suite's
    process holds ~2.7M objects by its end, and a full collection then stopped the event loop for up to
    1.9 s mid-test (3 s and more on the CI machine running three suites at once: a modal's trigger expired,
    a modal's checks overran their 2.5 s). A collection during a test now walks only what the last few
    tests left."""
    global _tests_since_freeze
    _tests_since_freeze += 1
    if _tests_since_freeze >= FREEZE_EVERY:
        gc.collect()
        gc.freeze()
        _tests_since_freeze = 0


@pytest.fixture(scope="session", autouse=True)
def cli_zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The zygote the CLI tests' commands are forked from (tests/clientbot_at.py). Not waited for: a
    command run before it listens starts on its own."""
    path = tmp_path_factory.mktemp("zygote") / "cli.sock"
    root = Path(__file__).resolve().parent.parent
    zygote = subprocess.Popen(
        [sys.executable, "-m", "tests.clientbot_at", "--zygote", str(path)],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ[ZYGOTE_VARIABLE] = str(path)
    try:
        yield
    finally:
        del os.environ[ZYGOTE_VARIABLE]
        zygote.terminate()
        zygote.wait(10)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    """The app's clock (bot.clock) and everything else in this process start at TEST_NOW and tick on; a
    test that needs another moment calls `clock.move_to(...)`."""
    with time_machine.travel(TEST_NOW, tick=True) as traveller:
        yield traveller


def _test_database_url() -> str:
    """TEST_DATABASE_URL (CI sets a scratch PostgreSQL database); else a throwaway SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='clientbot-test-')) / 'test.db'}"


async def _fresh_schema(url: str) -> None:
    db = Database(url)
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate(db)
    await db.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = _test_database_url()
    asyncio.run(_fresh_schema(url))
    yield url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.engine.begin() as conn:
        if database.is_postgres:
            # The immutability triggers refuse DELETE: the test superuser lifts them for this transaction
            # (session_replication_role is superuser-only; a hardened app role cannot do the same).
            # DELETE, not TRUNCATE: a test leaves few rows, and TRUNCATE's new files cost ~55 ms a test.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))
        else:
            # SQLite has no TRUNCATE: lift the immutability triggers for the clean-up, then put them back.
            listed = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
            triggers = listed.all()
            for name, _sql in triggers:
                await conn.execute(text(f"DROP TRIGGER {name}"))
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))
            for _name, sql in triggers:
                await conn.execute(text(sql))
    yield database
    await database.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(token=BOT_TOKEN)
    # Slack answers users.info with user_not_found for anyone it doesn't know: register the people the
    # tests act as (display name = the id in lower case, as the old lenient fake made them up).
    for user_id in KNOWN_USERS:
        slack.add_user(user_id, user_id.lower(), tz="UTC", real_name=user_id)
    slack.add_user(GUEST, "guest", tz="UTC", real_name=GUEST, guest=True)
    await slack.start()
    yield slack
    await slack.stop()
    assert slack.violations == [], f"views broke Block Kit limits: {slack.violations}"


@pytest.fixture
def slack_api_url(fake: FakeSlack) -> str:
    """Where the app's Web API client points; tests that never talk to Slack override it."""
    return fake.api_url


@pytest.fixture
def settings(database_url: str, slack_api_url: str, fake: FakeSlack, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        DATABASE_URL=database_url,
        CLIENTBOT_ADMINS=ADMIN,
        CLIENTBOT_STORAGE_DIR=str(tmp_path / "files"),
        CLIENTBOT_SHUTDOWN_GRACE=5,  # an app stopped at the end of a test waits no longer than app_url
        # The fake's loopback file host is trusted with the token only because the tests say so here.
        CLIENTBOT_SLACK_FILE_HOSTS=f"https://files.slack.com,{fake.base_url}",
    )


@pytest.fixture
def rt(settings: Settings, db: Database) -> Runtime:
    return Runtime(
        settings=settings, db=db, storage=open_storage(settings.storage_url or settings.storage_dir)
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto) on loopback for the whole session: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS variables that point this process (and `clientbot` subprocesses given them) at the server."""
    env = {**S3_ENV, "AWS_ENDPOINT_URL": s3_server}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_url(s3_env: dict[str, str]) -> str:
    """A fresh bucket for one test, as a CLIENTBOT_STORAGE_URL with a key prefix."""
    import boto3

    bucket = f"clientbot-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return f"s3://{bucket}/files"


@pytest.fixture(params=["file", "s3"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends, for tests that take this fixture: a local directory and a bucket on the S3 server."""
    if request.param == "s3":
        return request.getfixturevalue("s3_url")
    return (tmp_path / "stored").as_uri()


@pytest.fixture
async def app_url(rt: Runtime) -> AsyncIterator[str]:
    web_app = create_web_app(rt, create_bolt_app(rt))
    web_app.on_cleanup.clear()  # the `db` fixture owns the engine
    runner, url = await _serve(web_app)
    yield url
    await app_idle(rt, within=5.0)  # listeners that kept working after their ack, before the database goes
    await runner.cleanup()


@pytest.fixture
async def down_app_url(settings: Settings) -> AsyncIterator[str]:
    """The real app whose database cannot be reached (nothing listens on its port)."""
    down = Runtime(
        settings=settings,
        db=Database("postgresql+asyncpg://nobody@127.0.0.1:1/none"),
        storage=LocalStorage(settings.storage_dir),
    )
    runner, url = await _serve(create_web_app(down, create_bolt_app(down)))
    yield url
    await runner.cleanup()


async def _serve(web_app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def app_idle(rt: Runtime, within: float = 30.0) -> bool:
    """Wait until the work the app acked (rt.lifecycle: Bolt's after-ack dispatches and listeners, lazy
    work, charts and PDFs awaited from the process pool) has finished; False if it hasn't `within` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    await asyncio.sleep(0)
    while (pending := rt.lifecycle.in_flight()) and (left := deadline - loop.time()) > 0:
        await asyncio.wait(pending, timeout=left)
    return not rt.lifecycle.in_flight()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll an async check until it returns something truthy (listeners work after their ack)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.02)


@pytest.fixture
async def slack(app_url: str, fake: FakeSlack) -> AsyncIterator[SlackClient]:
    client = SlackClient(app_url, SIGNING_SECRET, fake)
    yield client
    close = getattr(client, "close", None)
    if close is not None:
        await close()
