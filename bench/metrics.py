"""Success metrics latency on a seeded PostgreSQL database: `metrics.build` (what `/client metrics`,
`GET /api/metrics` and an HR Manager's App Home compute), p50/p95 over repeated runs.

python -m bench.seed URL && python -m bench.metrics URL --samples 30
"""

from __future__ import annotations

import argparse
import asyncio
import time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.analytics import _summary
from bot.db import Database
from bot.models import Client, ClientCommunication, Role, User
from bot.services import metrics


async def run(url: str, samples: int) -> None:
    db = Database(url)
    async with db.session() as session:
        clients = await session.scalar(select(func.count()).select_from(Client))
        communications = await session.scalar(select(func.count()).select_from(ClientCommunication))
        manager = await session.scalar(select(User).where(User.role == Role.MANAGER.value).limit(1))
    print(f"data: {clients} clients, {communications} communications")
    for history, what in ((True, "this quarter with the 6-month trend"), (False, "App Home: no history")):
        timings = []
        for _ in range(samples):
            async with db.session() as session:
                started = time.perf_counter()
                await metrics.build(session, actor=manager, period=None, tz=ZoneInfo("UTC"), history=history)
                timings.append((time.perf_counter() - started) * 1000)
        print(f"metrics.build ({what}), {samples} runs: {_summary(timings)}")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.samples))


if __name__ == "__main__":
    main()
