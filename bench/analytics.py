"""Per-client job analytics latency (p50/p95) on a seeded PostgreSQL database: over random clients,
and separately for the seeded big client (500 jobs, 5,000 applications).

python -m bench.seed URL && python -m bench.analytics URL --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from sqlalchemy import func, select

from bench.seed import BIG_CLIENT_CODE
from bot.db import Database
from bot.models import Application, Client, Job
from bot.services.analytics import client_job_analytics


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def _timings(db: Database, client_ids: list) -> list[float]:
    timings = []
    for client_id in client_ids:
        async with db.session() as session:
            started = time.perf_counter()
            await client_job_analytics(session, client_id)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def _summary(timings: list[float]) -> str:
    return (
        f"p50 {percentile(timings, 50):.2f} ms, p95 {percentile(timings, 95):.2f} ms, "
        f"mean {statistics.fmean(timings):.2f} ms"
    )


async def run(url: str, samples: int, big_samples: int) -> None:
    db = Database(url)
    async with db.session() as session:
        totals = [
            await session.scalar(select(func.count()).select_from(m)) for m in (Client, Job, Application)
        ]
        client_ids = list(await session.scalars(select(Client.id)))
        big = await session.scalar(select(Client).where(Client.client_code == BIG_CLIENT_CODE))
        big_counts = (
            await session.execute(
                select(func.count(func.distinct(Job.id)), func.count(Application.id))
                .select_from(Job)
                .outerjoin(Application, Application.job_id == Job.id)
                .where(Job.client_id == big.id)
            )
            if big
            else None
        )
        big_jobs, big_apps = big_counts.one() if big_counts else (0, 0)
    print(f"data: {totals[0]} clients, {totals[1]} jobs, {totals[2]} applications")
    rng = random.Random(7)
    timings = await _timings(db, [rng.choice(client_ids) for _ in range(samples)])
    print(f"per-client analytics over {samples} random clients: {_summary(timings)}")
    if big is None:
        print(f"no big client {BIG_CLIENT_CODE}: seed with bench.seed to measure it")
    else:
        timings = await _timings(db, [big.id] * big_samples)
        print(
            f"big client {BIG_CLIENT_CODE} ({big_jobs} jobs, {big_apps} applications), "
            f"{big_samples} runs: {_summary(timings)}"
        )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--big-samples", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.samples, args.big_samples))


if __name__ == "__main__":
    main()
