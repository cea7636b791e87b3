"""The whole system under load, side by side with a bare Bolt app (issue 14).

    python -m bench.load DATABASE_URL [--concurrency 1,4,16] [--seconds 10] [--workers 1]
        [--scenarios show,show-big,history,search,list,button,export,show-export] [--json OUT]
    python -m bench.load DATABASE_URL --soak 300 [--workers 1]

Starts a fake Slack Web API on loopback (bench/fake_slack.py), `clientbot serve` and a bare Bolt AsyncApp
(bench/bare_bolt.py) as one process each, then drives them with a closed-loop load generator: each of N
concurrent users sends a signed slash command (or button click) with its own response_url and sends the
next one once the final reply has arrived there. For every scenario and concurrency it runs clientbot,
then bare Bolt, for the same fixed time, and prints throughput, ack and reply latency percentiles,
errors, CPU per request (all the server's processes) and RSS (its largest process), and the clientbot/bare
throughput ratio. With `--workers N` both run N processes (gunicorn's aiohttp worker). `show-export` is
`show` while one of the users exports continuously (its p99 against plain `show`'s). `--soak S` drives a mix
of scenarios for S seconds instead and prints RSS every 30 s. A sqlite+aiosqlite URL runs against SQLite."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.fake_slack import TEAM_ID, FakeSlack

SIGNING_SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
APP_ID = "A0CLIENTBOT"
SCENARIOS = ("show", "show-big", "history", "search", "list", "button", "help", "export", "show-export")
SOAK_MIX = ("show", "history", "search", "list", "button", "show-big")
# bare Bolt answers these alike
MIRRORED = {"show", "show-big", "history", "search", "list", "button", "help"}
HISTORY_BUTTON = "comm_history_open"  # views.clients.HISTORY_ACTION: the client's history, by response_url
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Data:
    """What the scenarios ask about, picked from the database once."""

    clients: list[tuple[str, str]]  # (client id, client code)
    biggest: tuple[str, str, int]  # (id, code, jobs)
    searches: list[tuple[str, str]]  # (client code, a word from one of its communications' subjects)


async def pick_data(url: str) -> Data:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as db:
            rows = (
                await db.execute(
                    text(
                        "SELECT c.id, c.client_code, count(j.id) AS jobs FROM clients c"
                        " LEFT JOIN jobs j ON j.client_id = c.id GROUP BY c.id, c.client_code"
                        " ORDER BY jobs DESC"
                    )
                )
            ).all()
            subjects = (
                await db.execute(
                    text(
                        "SELECT c.client_code, m.subject FROM client_communications m"
                        " JOIN clients c ON c.id = m.client_id WHERE m.subject IS NOT NULL"
                        " ORDER BY random() LIMIT 500"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    if not rows:
        raise SystemExit("no clients in the database: seed it (python -m bench.seed URL, or clientbot demo)")
    searches = []
    for code, subject in subjects:
        words = [w for w in re.findall(r"[A-Za-z]{5,}", subject or "")]
        if words:
            searches.append((code, random.choice(words).lower()))
    clients = [(str(r[0]), r[1]) for r in rows]
    random.shuffle(clients)
    return Data(
        clients=clients[:2000],
        biggest=(str(rows[0][0]), rows[0][1], rows[0][2]),
        searches=searches or [(c[1], "meeting") for c in clients[:50]],
    )


# -- the servers ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def pids(self) -> list[int]:
        """The server process and its descendants (gunicorn workers, render and mail pools)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
            found += frontier
        return found

    def cpu_seconds(self) -> float:
        """utime + stime of the whole tree, including children that ended (cutime, cstime)."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime (fields 14-17)
        return total / CLK_TCK

    def rss_mb(self) -> float:
        """The largest resident set among the serving processes (a worker, or the one process), leaving
        out spawned pool processes (charts and PDFs, mail parsing)."""
        largest = 0.0
        for pid in self.pids():
            try:
                if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        largest = max(largest, int(line.split()[1]) / 1024)
            except OSError:
                continue
        return largest

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def server_env(fake: FakeSlack, database_url: str, users: list[str], work: Path) -> dict[str, str]:
    """Both servers' environment: the fake Slack, the database, `users` as admins (each may see every client
    and export), files under `work`, HTTP mode (not Socket Mode)."""
    env = os.environ | {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": database_url,
        "CLIENTBOT_ADMINS": ",".join(users),
        "CLIENTBOT_SLACK_FILE_HOSTS": fake.base_url,
        "CLIENTBOT_STORAGE_DIR": str(work / "files"),
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env


def server_commands(workers: int) -> list[tuple[str, list[str]]]:
    """(name, the Python interpreter's arguments) of clientbot and bare Bolt, each serving with `workers`
    processes (always given: serve's own default is the CPU count)."""
    count = ["--workers", str(workers)]
    return [
        ("clientbot", ["-m", "bot.cli", "serve", *count]),
        ("bare", [str(Path(__file__).with_name("bare_bolt.py")), *count]),
    ]


def start_server(name: str, argv: list[str], env: dict[str, str], logs: Path, cwd: Path) -> Server:
    port = free_port()
    log = (logs / f"{name}.log").open("w")
    process = subprocess.Popen(
        argv, env=env | {"PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT, cwd=cwd
    )
    return Server(name, process, port)


async def wait_ready(server: Server, session: aiohttp.ClientSession, seconds: float = 60.0) -> None:
    """Up once it answers HTTP at all (an unsigned request gets 401 from Bolt)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode}: see its log")
        try:
            async with session.post(server.url, data=b"") as response:
                await response.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.2)
    raise SystemExit(f"{server.name} did not start within {seconds:.0f} s")


# -- the load generator --------------------------------------------------------------------------------
class Load:
    def __init__(self, fake: FakeSlack, session: aiohttp.ClientSession, data: Data, timeout: float) -> None:
        self.fake, self.session, self.data, self.timeout = fake, session, data, timeout
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self.reply_bytes: dict[str, int] = {}  # scenario -> clientbot's median final reply size

    def command_text(self, scenario: str) -> str:
        if scenario == "show-big":
            return f"show {self.data.biggest[1]}"
        if scenario == "search":
            code, word = random.choice(self.data.searches)
            return f"history {code} {word}"
        if scenario in ("list", "help"):  # help: the app's floor, it reads only its user
            return scenario
        _, code = random.choice(self.data.clients)
        return f"{'show' if scenario == 'show' else scenario} {code}"

    def body(self, scenario: str, user_id: str, response_url: str) -> str:
        trigger = f"{int(time.time())}.{random.randrange(10**12)}.{uuid.uuid4().hex}"
        if scenario == "button":
            client_id, _ = random.choice(self.data.clients)
            payload = {
                "type": "block_actions",
                "team": {"id": TEAM_ID, "domain": "bench"},
                "enterprise": None,
                "user": {
                    "id": user_id,
                    "username": user_id.lower(),
                    "name": user_id.lower(),
                    "team_id": TEAM_ID,
                },
                "api_app_id": APP_ID,
                "token": "legacy-verification-token",
                "is_enterprise_install": False,
                "container": {
                    "type": "message",
                    "message_ts": "1700000000.000001",
                    "channel_id": "C0001",
                    "is_ephemeral": True,
                },
                "channel": {"id": "C0001", "name": "general"},
                "state": {"values": {}},
                "response_url": response_url,
                "trigger_id": trigger,
                "actions": [
                    {
                        "type": "button",
                        "action_id": HISTORY_BUTTON,
                        "block_id": "b",
                        "value": client_id,
                        "action_ts": str(time.time()),
                    }
                ],
            }
            return urlencode({"payload": json.dumps(payload)})
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "bench",
                "channel_id": "C0001",
                "channel_name": "general",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": "/client",
                "text": self.command_text(scenario),
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": trigger,
            }
        )

    async def one(self, server: Server, scenario: str, user_id: str, sample: Sample) -> None:
        if scenario == "show-export":  # the others' requests in that phase
            scenario = "show"
        response_url, reply = self.fake.response_url()
        body = self.body(scenario, user_id, response_url)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        if server.name == "bare":
            headers["X-Bench-Reply-Bytes"] = str(self.reply_bytes.get(scenario, 3000))
        sent = time.perf_counter()
        try:
            async with self.session.post(server.url, data=body.encode(), headers=headers) as response:
                await response.read()
                acked = time.perf_counter()
                status = response.status
        except (aiohttp.ClientError, OSError):
            self.fake.forget(response_url)
            sample.errors += 1
            return
        sample.ack.append(acked - sent)
        if status != 200:
            self.fake.forget(response_url)
            sample.errors += 1
            return
        try:
            got = await asyncio.wait_for(reply, self.timeout)
        except TimeoutError:
            sample.timeouts += 1
            return
        finally:
            self.fake.forget(response_url)
        if got.error:
            sample.errors += 1
            sample.error_texts.add(got.text)
            return
        sample.reply.append(got.at - sent)
        sample.sizes.append(got.size)

    async def phase(
        self, server: Server, scenario: str, concurrency: int, seconds: float, mix: tuple[str, ...] = ()
    ) -> Sample:
        """Closed loop for `seconds`. `show-export`: user 0 exports all the time (not counted), the
        others send `show`. `mix`: each request picks one of these scenarios."""
        sample = Sample(scenario, concurrency, server.name)
        background = Sample("export", 1, server.name)
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        deadline = start + seconds

        async def user(n: int) -> None:
            while time.perf_counter() < deadline:
                if scenario == "show-export" and n == 0:
                    await self.one(server, "export", bench_user(n), background)
                else:
                    await self.one(server, random.choice(mix) if mix else scenario, bench_user(n), sample)

        await asyncio.gather(*(user(n) for n in range(concurrency)))
        sample.elapsed = time.perf_counter() - start
        sample.cpu = server.cpu_seconds() - cpu
        sample.rss_mb = server.rss_mb()
        if server.name == "clientbot" and sample.sizes:
            self.reply_bytes[scenario] = sorted(sample.sizes)[len(sample.sizes) // 2]
        return sample


def bench_user(n: int) -> str:
    return f"UBENCH{n:03d}"


@dataclass
class Sample:
    scenario: str
    concurrency: int
    target: str
    ack: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    error_texts: set[str] = field(default_factory=set)

    def absorb(self, other: Sample) -> None:
        """Add `other` (a slice of the same phase) to this sample; RSS is the last slice's."""
        self.ack += other.ack
        self.reply += other.reply
        self.sizes += other.sizes
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.elapsed += other.elapsed
        self.cpu += other.cpu
        self.rss_mb = other.rss_mb
        self.error_texts |= other.error_texts

    @property
    def ack_max(self) -> float:
        return max(self.ack, default=0.0)

    @property
    def requests(self) -> int:
        return len(self.reply)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        done = self.requests + self.errors + self.timeouts
        return 1000 * self.cpu / done if done else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "concurrency": self.concurrency,
            "target": self.target,
            "requests": self.requests,
            "throughput": round(self.throughput, 1),
            "ack_ms": {f"p{p}": round(percentile(self.ack, p) * 1000, 1) for p in (50, 95, 99)},
            "ack_max_ms": round(self.ack_max * 1000, 1),
            "reply_ms": {f"p{p}": round(percentile(self.reply, p) * 1000, 1) for p in (50, 95, 99)},
            "errors": self.errors,
            "timeouts": self.timeouts,
            "cpu_ms_per_request": round(self.cpu_ms, 2),
            "rss_mb": round(self.rss_mb, 1),
            "reply_bytes": sorted(self.sizes)[len(self.sizes) // 2] if self.sizes else 0,
            "seconds": round(self.elapsed, 2),
        }


def percentile(values: list[float], p: int) -> float:
    """Nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


HEADER = (
    f"{'scenario':<9} {'conc':>4} {'target':<9} {'reqs':>6} {'req/s':>7} "
    f"{'ack p50/p95/p99 ms':>21} {'max':>5} {'reply p50/p95/p99 ms':>23} {'err/tmo':>8} "
    f"{'CPU ms/req':>10} {'RSS MB':>7} {'ratio':>6}"
)


def row(sample: Sample, ratio: float | None) -> str:
    s = sample.summary()
    ack = "/".join(
        f"{s['ack_ms'][k]:.0f}" if s["ack_ms"][k] >= 10 else f"{s['ack_ms'][k]:.1f}" for k in s["ack_ms"]
    )
    rep = "/".join(
        f"{s['reply_ms'][k]:.0f}" if s["reply_ms"][k] >= 10 else f"{s['reply_ms'][k]:.1f}"
        for k in s["reply_ms"]
    )
    errors = f"{s['errors']}/{s['timeouts']}"
    return (
        f"{s['scenario']:<9} {s['concurrency']:>4} {s['target']:<9} "
        f"{s['requests']:>6} {s['throughput']:>7.1f} "
        f"{ack:>21} {s['ack_max_ms']:>5.0f} {rep:>23} {errors:>8} "
        f"{s['cpu_ms_per_request']:>10.1f} {s['rss_mb']:>7.0f} {'' if ratio is None else f'{ratio:.2f}':>6}"
    )


# -- the run -------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    data = await pick_data(args.database_url)
    levels = [int(c) for c in args.concurrency.split(",")]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(SCENARIOS)})")
    users = [bench_user(n) for n in range(max(levels))]
    print(
        f"{len(data.clients)} clients sampled; biggest {data.biggest[1]} ({data.biggest[2]} jobs); "
        f"{len(data.searches)} search words",
        flush=True,
    )
    fake = FakeSlack(token=TOKEN, users=set(users))
    await fake.start()
    work = Path(tempfile.mkdtemp(prefix="clientbot-load-"))
    logs = Path(args.log_dir) if args.log_dir else work
    logs.mkdir(parents=True, exist_ok=True)
    env = server_env(fake, args.database_url, users, work)
    clientbot, bare = (
        start_server(name, [sys.executable, *argv], env, logs, work)
        for name, argv in server_commands(args.workers)
    )
    connector = aiohttp.TCPConnector(limit=0)
    results: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_ready(clientbot, session)
            await wait_ready(bare, session)
            load = Load(fake, session, data, args.timeout)
            # Warm-up, not measured: every user is seen once (users.info), each scenario runs once, then
            # `--warm-up` seconds of each (but the exports) at the highest concurrency: connections, caches,
            # prepared plans.
            for server in (clientbot, bare):
                warm = Sample("warm-up", 0, server.name)
                await asyncio.gather(*(load.one(server, "show", u, warm) for u in users))
                for scenario in scenarios:
                    await load.one(server, scenario, users[0], warm)
                for scenario in scenarios if args.warm_up else ():
                    if scenario in MIRRORED:  # not the exports: seconds each
                        await load.phase(server, scenario, max(levels), args.warm_up)
            print(f"logs: {logs}\n\n{HEADER}", flush=True)
            if args.soak:
                results += await soak(load, clientbot, max(levels), args.soak)
                scenarios = []
            for scenario in scenarios:
                for concurrency in levels:
                    ours = Sample(scenario, concurrency, clientbot.name)
                    theirs = None
                    if scenario in MIRRORED and not args.no_bare:
                        theirs = Sample(scenario, concurrency, bare.name)
                    # Interleaved in slices, so that a spell of the machine's noise falls on both.
                    slices = args.slices if theirs else 1
                    for _ in range(slices):
                        ours.absorb(await load.phase(clientbot, scenario, concurrency, args.seconds / slices))
                        if theirs:
                            await asyncio.sleep(0.2)
                            part = await load.phase(bare, scenario, concurrency, args.seconds / slices)
                            theirs.absorb(part)
                            await asyncio.sleep(0.2)
                    ratio = ours.throughput / theirs.throughput if theirs and theirs.throughput else None
                    print(row(ours, ratio), flush=True)
                    results.append(ours.summary() | {"ratio": ratio and round(ratio, 3)})
                    if theirs:
                        print(row(theirs, None), flush=True)
                        results.append(theirs.summary())
                    if scenario == "show-export":
                        alone = next(
                            (
                                r
                                for r in results
                                if r["scenario"] == "show"
                                and r["target"] == "clientbot"
                                and r["concurrency"] == concurrency
                            ),
                            None,
                        )
                        if alone and alone["reply_ms"]["p99"]:
                            moved = ours.summary()["reply_ms"]["p99"] / alone["reply_ms"]["p99"] - 1
                            print(
                                f"    show p99 with one user exporting: {moved:+.0%} vs show alone",
                                flush=True,
                            )
                    for text_ in sorted(ours.error_texts)[:3]:
                        print(f"    clientbot error reply: {text_}", flush=True)
                    await asyncio.sleep(0.5)
            print(f"\nSlack API calls answered: {dict(sorted(fake.calls.items()))}")
    finally:
        clientbot.stop()
        bare.stop()
        await fake.stop()
    return results


async def soak(load: Load, server: Server, concurrency: int, seconds: float) -> list[dict[str, Any]]:
    """A mix of scenarios at `concurrency` for `seconds`, in 30-second slices: RSS after each."""
    results: list[dict[str, Any]] = []
    slices = max(1, round(seconds / 30))
    for n in range(slices):
        sample = await load.phase(server, "soak", concurrency, seconds / slices, mix=SOAK_MIX)
        print(row(sample, None) + f"  t={(n + 1) * seconds / slices:.0f}s", flush=True)
        results.append(sample.summary())
    first, last = results[0]["rss_mb"], results[-1]["rss_mb"]
    print(
        f"\nsoak: RSS {first:.0f} MB after the first slice, {last:.0f} MB at the end ({last - first:+.0f} MB)"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated concurrent users")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument(
        "--slices", type=int, default=5, help="clientbot's and bare Bolt's phases alternate in N slices"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a reply")
    parser.add_argument("--no-bare", action="store_true", help="drive clientbot only")
    parser.add_argument("--workers", type=int, default=1, help="processes of each server (gunicorn workers)")
    parser.add_argument(
        "--warm-up", type=float, default=3.0, help="unmeasured seconds of each scenario first"
    )
    parser.add_argument("--soak", type=float, default=0, help="seconds of mixed load instead of the phases")
    parser.add_argument("--log-dir", help="where the servers' logs go (default: a temporary directory)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
