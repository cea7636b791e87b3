"""Per-client job analytics latency (p50/p95) on a seeded PostgreSQL database.

python -m bench.seed URL && python -m bench.analytics URL --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from sqlalchemy import func, select

from bot.db import Database
from bot.models import Application, Client, Job
from bot.services.analytics import client_job_analytics


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run(url: str, samples: int) -> None:
    db = Database(url)
    async with db.session() as session:
        totals = [
            await session.scalar(select(func.count()).select_from(m)) for m in (Client, Job, Application)
        ]
        client_ids = list(await session.scalars(select(Client.id)))
    print(f"data: {totals[0]} clients, {totals[1]} jobs, {totals[2]} applications")
    rng = random.Random(7)
    timings = []
    for client_id in [rng.choice(client_ids) for _ in range(samples)]:
        async with db.session() as session:
            started = time.perf_counter()
            await client_job_analytics(session, client_id)
            timings.append((time.perf_counter() - started) * 1000)
    print(
        f"per-client analytics over {samples} random clients: p50 {percentile(timings, 50):.2f} ms, "
        f"p95 {percentile(timings, 95):.2f} ms, mean {statistics.fmean(timings):.2f} ms"
    )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.samples))


if __name__ == "__main__":
    main()
