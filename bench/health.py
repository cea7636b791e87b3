"""Client health latency (p50/p95) on a seeded PostgreSQL database (10k clients, 1M communications):

- `/client list sort:health`: a page of 20 clients ordered by the nightly snapshot, plus the live health of
  the page, exactly what the handler runs (also `health:at-risk`, and `-health`);
- the live health computation for a page of 20 random clients (services/health.compute);
- the nightly snapshot of every client, once (the job's run time).

python -m bench.seed URL && python -m bench.health URL --samples 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlalchemy import func, select, text

from bench.analytics import percentile
from bot.db import Database, migrate
from bot.models import Client, ClientCommunication, ClientHealthSnapshot, User
from bot.services import clients, health


async def _timed(db: Database, samples: int, work: Callable[[Any, int], Awaitable[Any]]) -> list[float]:
    timings = []
    for n in range(samples):
        async with db.session() as session:
            started = time.perf_counter()
            await work(session, n)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def _summary(name: str, timings: list[float]) -> str:
    return f"{name}: p50 {percentile(timings, 50):.1f} ms, p95 {percentile(timings, 95):.1f} ms"


async def run(url: str, samples: int) -> None:
    db = Database(url)
    await migrate(db)
    today = date.today()
    async with db.session() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(m)) for m in (Client, ClientCommunication)
        ]
        actor = await session.scalar(select(User).where(User.slack_user_id == "UBENCH1"))
        client_ids = list(await session.scalars(select(Client.id)))
    print(f"data: {counts[0]} clients, {counts[1]} communications")
    async with db.session() as session:
        started = time.perf_counter()
        written = await health.snapshot_all(session, today)
        print(f"nightly snapshot of {written} clients: {(time.perf_counter() - started):.2f} s")
    async with db.engine.connect() as conn:  # what autovacuum does after the nightly insert
        await conn.execute(text("ANALYZE client_health_snapshots"))
        await conn.commit()
    async with db.session() as session:
        levels = dict(
            (
                await session.execute(
                    select(ClientHealthSnapshot.level, func.count())
                    .where(ClientHealthSnapshot.day == today)
                    .group_by(ClientHealthSnapshot.level)
                )
            ).all()
        )
    print(f"levels: {levels}")
    rng = random.Random(13)

    def listing(**filters: Any) -> Callable[[Any, int], Awaitable[Any]]:
        async def work(session: Any, n: int) -> None:
            page = await clients.list_clients(
                session, filters=clients.ClientFilter(**filters), page=1 + n % 5, viewer=actor
            )
            await health.compute(session, [c.id for c in page.clients], today=today)

        return work

    async def page_health(session: Any, _n: int) -> None:
        await health.compute(session, rng.sample(client_ids, 20), today=today)

    for name, work in (
        ("/client list by name + live health (for comparison)", listing()),
        ("/client list sort:health (page + live health)", listing(sort_by="health")),
        ("/client list sort:-health", listing(sort_by="-health")),
        ("/client list health:at-risk", listing(health="at-risk", sort_by="health")),
        ("health of a page of 20 random clients", page_health),
    ):
        await _timed(db, 10, work)  # warm up
        print(_summary(name, await _timed(db, samples, work)))
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.samples))


if __name__ == "__main__":
    main()
