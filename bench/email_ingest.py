"""Does one hostile email stall the app? Serves the real app (its own process, on loopback, a scratch SQLite
database unless a URL is given), polls `GET /healthz` every 10 ms from this process, first on the idle app,
then while each worst-case email is posted to `POST /integrations/email`, and reports /healthz latency
p50/p95/max next to the ingest time, and the app's event-loop lag (how late a 5 ms sleep in the app
process wakes up: its own stalls, apart from the machine's load, which shows in both).

    python -m bench.email_ingest [DATABASE_URL] [--idle-samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiohttp

from bench.analytics import percentile

SECRET = "bench-secret"
AUTHSERV = "mx.agency.example.com"
DOMAIN = "techcorp.example.com"
MB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, storage_dir: str, port: int, ready) -> None:  # in the app's own process
    from aiohttp import web

    from bot.app import create_bolt_app, create_web_app
    from bot.config import Settings
    from bot.db import migrate
    from bot.runtime import Runtime
    from bot.services import clients, users

    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET="bench",
        SLACK_API_URL="http://127.0.0.1:9/api/",
        DATABASE_URL=database_url,
        CLIENTBOT_STORAGE_DIR=storage_dir,
    ).model_copy(update={"email_secret": SECRET, "email_authserv_id": frozenset({AUTHSERV})})
    rt = Runtime.from_settings(settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit cleanly: the email workers stop with it

    async def main() -> None:
        await migrate(rt.db)
        async with rt.db.session() as session:
            manager = await users.resolve(session, slack_user_id="UBENCHM", admins={"UBENCHM"})
            data = clients.parse_client(
                {
                    "name": f"Bench Tech {port}",
                    "website": f"https://{DOMAIN}",
                    "contacts": [{"full_name": "John Doe", "email": f"john@{DOMAIN}", "is_primary": True}],
                }
            )
            await clients.create(session, actor=manager, data=data, confirm_duplicate=True)
        web_app = create_web_app(rt, create_bolt_app(rt))
        lags: list[float] = []

        async def watch_loop() -> None:  # how late a 5 ms sleep wakes up: the event loop's own stalls
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append((time.perf_counter() - started - 0.005) * 1000)

        async def take_lags(request: web.Request) -> web.Response:
            taken, lags[:] = list(lags), []
            return web.json_response(taken)

        web_app.router.add_get("/_bench/loop-lag", take_lags)  # bench only, not part of the app
        watcher = asyncio.create_task(watch_loop())
        runner = web.AppRunner(web_app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()
        watcher.cancel()

    asyncio.run(main())


def email(subject: str, *, html: str | None = None, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["Authentication-Results"] = f"{AUTHSERV}; dmarc=pass header.from={DOMAIN}"
    message["From"], message["To"] = f"John Doe <john@{DOMAIN}>", "recruiter@agency.example.com"
    message["Subject"], message["Message-ID"] = subject, f"<{time.time_ns()}@{DOMAIN}>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    if html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content("See the attachment.")
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="big.pdf")
    return message.as_bytes()


WORST_CASES = {
    "HTML of 120,000 '<'": lambda: email("lt", html="<" * 120_000),
    "HTML of 100,000 unclosed '<a '": lambda: email("unclosed", html="<a " * 100_000),
    "HTML nested 100,000 <div> deep": lambda: email(
        "deep", html="<div>" * 100_000 + "deep text" + "</div>" * 100_000
    ),
    "25 MB PDF attachment": lambda: email("big", attachment=(b"%PDF-1.7\n" + os.urandom(25 * MB))[: 25 * MB]),
}


async def poll(http: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        async with http.get(f"{url}/healthz") as response:
            await response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return latencies


async def loop_lag(http: aiohttp.ClientSession, url: str) -> list[float]:
    async with http.get(f"{url}/_bench/loop-lag") as response:
        return await response.json()


def line(name: str, latencies: list[float], lags: list[float], extra: str = "") -> None:
    print(
        f"{name:<32} healthz n={len(latencies):4d} p50 {percentile(latencies, 50):6.1f}"
        f"  p95 {percentile(latencies, 95):6.1f}  max {max(latencies):6.1f} ms"
        f" | app loop lag p95 {percentile(lags, 95):5.1f}  max {max(lags):6.1f} ms | {extra}"
    )


async def run(url: str, idle_samples: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # warm up the connection and the database pool
            async with http.get(f"{url}/healthz") as response:
                await response.read()
        await loop_lag(http, url)
        idle = []
        for _ in range(idle_samples):
            started = time.perf_counter()
            async with http.get(f"{url}/healthz") as response:
                await response.read()
            idle.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
        line("idle app", idle, await loop_lag(http, url))
        for name, build in WORST_CASES.items():
            raw = build()
            await loop_lag(http, url)
            stop = asyncio.Event()
            poller = asyncio.create_task(poll(http, url, stop))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            async with http.post(
                f"{url}/integrations/email", data=raw, headers={"X-Clientbot-Secret": SECRET}
            ) as response:
                status = response.status
                await response.read()
            took = time.perf_counter() - started
            stop.set()
            latencies = await poller
            lags = await loop_lag(http, url)
            line(name, latencies, lags, f"ingest {took:5.2f} s ({len(raw) / MB:.1f} MB) -> {status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--idle-samples", type=int, default=300)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="clientbot-bench-email-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{scratch / 'bench.db'}"
    port = _free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    # not a daemon: the app starts its own worker processes (email parsing)
    app = context.Process(target=serve, args=(database_url, str(scratch / "files"), port, ready))
    app.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the app did not start")
        asyncio.run(run(f"http://127.0.0.1:{port}", args.idle_samples))
    finally:
        app.terminate()
        app.join()


if __name__ == "__main__":
    main()
