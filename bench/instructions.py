"""Instructions per request: the whole system's cost as a count this machine's noise doesn't move (issue 14).

    python -m bench.instructions DATABASE_URL [--scenarios list,show,history,help] [--requests 60]

Starts `clientbot serve` and the bare Bolt app (bench/bare_bolt.py) under valgrind's callgrind, counting
nothing while they start and warm up. Then, for each scenario, it counts the instructions each server runs
while it answers `--requests` requests one after the other (signed request in, reply at the fake Slack,
as bench.load sends them), and prints instructions per request and clientbot's over bare Bolt's.

Why: CPU time per request on this shared machine varies ±20 % from run to run for the same code, so a
change worth 5-10 % needs a dozen interleaved load runs to show. A count of instructions varies by about a
per cent. It is not time: cache misses, the kernel's work and the database's are not in it; throughput
(bench.load) stays the figure that counts. Needs valgrind (Debian `valgrind`)."""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from bench.fake_slack import FakeSlack
from bench.load import (
    MIRRORED,
    TOKEN,
    Load,
    Sample,
    Server,
    bench_user,
    pick_data,
    server_commands,
    server_env,
    start_server,
    wait_ready,
)

HEADER = f"{'scenario':<9} {'clientbot':>14} {'bare':>14} {'ratio':>6}  (instructions per request)"
CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=no"]


def control(server: Server, *command: str) -> None:
    """callgrind_control on the server's process (valgrind's gdbserver, woken by ptrace if it is waiting)."""
    subprocess.run(
        ["callgrind_control", *command, str(server.process.pid)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def counted(load: Load, server: Server, scenario: str, requests: int, out: Path) -> float:
    """Instructions `server` runs per request over `requests` sequential `scenario` requests."""
    before = set(out.parent.glob(f"{out.name}*"))
    sample = Sample(scenario, 1, server.name)
    control(server, "--zero")
    control(server, "--instr=on")
    for _ in range(requests):
        await load.one(server, scenario, bench_user(0), sample)
    await asyncio.sleep(0.5)  # the listener's work after its reply (closing its session) is counted too
    control(server, "--instr=off")
    control(server, "--dump")
    if sample.errors or sample.timeouts:
        raise SystemExit(f"{server.name} {scenario}: {sample.errors} errors, {sample.timeouts} timeouts")
    (dump,) = set(out.parent.glob(f"{out.name}*")) - before
    totals = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE)
    if totals is None:
        raise SystemExit(f"no instruction count in {dump}")
    return int(totals.group(1)) / requests


async def run(args: argparse.Namespace) -> None:
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    random.seed(args.seed)  # the same clients and words asked about, run after run
    data = await pick_data(args.database_url)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(scenarios) - MIRRORED:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))} (known: {', '.join(MIRRORED)})")
    users = [bench_user(0)]
    fake = FakeSlack(token=TOKEN, users=set(users))
    await fake.start()
    work = Path(tempfile.mkdtemp(prefix="clientbot-instructions-"))
    env = server_env(fake, args.database_url, users, work)
    servers = []
    for name, argv in server_commands(workers=1):
        out = work / f"{name}.callgrind"
        command = [*CALLGRIND, f"--callgrind-out-file={out}", sys.executable, *argv]
        servers.append((start_server(name, command, env, work, work), out))
    try:
        async with aiohttp.ClientSession() as session:
            load = Load(fake, session, data, timeout=120)
            for server, _ in servers:
                await wait_ready(server, session, seconds=300)
                warm = Sample("warm-up", 0, server.name)
                for scenario in scenarios:
                    for _ in range(args.warm_up):
                        await load.one(server, scenario, users[0], warm)
            print(f"logs: {work}\n\n{HEADER}", flush=True)
            for scenario in scenarios:
                ours, bare = [await counted(load, s, scenario, args.requests, out) for s, out in servers]
                print(f"{scenario:<9} {ours:>14,.0f} {bare:>14,.0f} {ours / bare:>6.2f}", flush=True)
    finally:
        for server, _ in servers:
            server.stop()
        await fake.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--scenarios", default="list,show,history,help")
    parser.add_argument("--requests", type=int, default=60, help="requests counted per scenario")
    parser.add_argument("--warm-up", type=int, default=30, help="uncounted requests of each scenario first")
    parser.add_argument("--seed", type=int, default=14, help="picks the clients and words asked about")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
