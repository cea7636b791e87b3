"""Communication history page latency (p50/p95) on a seeded PostgreSQL database: the first page of
random clients' timelines, a filtered and a full-text page, and the 1,000-record client paged through.

    python -m bench.seed URL && python -m bench.history URL --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from bench.analytics import percentile
from bot.db import Database
from bot.models import Client, ClientCommunication, CommunicationType, User
from bot.services import clients, communications
from bot.services.communications import HistoryFilter


async def timed(db: Database, samples: int, make: Callable[[int], Awaitable[object]]) -> list[float]:
    timings = []
    for n in range(samples):
        started = time.perf_counter()
        await make(n)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def report(name: str, timings: list[float]) -> None:
    print(f"{name:<44} p50 {percentile(timings, 50):7.2f} ms   p95 {percentile(timings, 95):7.2f} ms")


async def run(url: str, samples: int) -> None:
    db = Database(url)
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(ClientCommunication))
        client_ids = list(await session.scalars(select(Client.id)))
        big = await session.scalar(select(Client.id).order_by(Client.client_code).limit(1))
        big_count = await session.scalar(select(func.count()).where(ClientCommunication.client_id == big))
        actor = await session.scalar(select(User).where(User.slack_user_id == "UBENCH1"))
    print(f"data: {total} communications over {len(client_ids)} clients; the big client has {big_count}")
    rng = random.Random(11)

    async def page(client_id, filters: HistoryFilter, number: int = 1) -> None:
        async with db.session() as session:
            client = await clients.get(session, client_id)
            await communications.history(session, actor=actor, client=client, filters=filters, page=number)

    report(
        "history page 1, random client",
        await timed(db, samples, lambda n: page(rng.choice(client_ids), HistoryFilter())),
    )
    report(
        "history page 1, type:call important",
        await timed(
            db,
            samples,
            lambda n: page(
                rng.choice(client_ids), HistoryFilter(types=[CommunicationType.CALL], important=True)
            ),
        ),
    )
    report(
        "history full-text 'salary', random client",
        await timed(db, samples, lambda n: page(rng.choice(client_ids), HistoryFilter(text="salary"))),
    )
    report(
        "1,000-record client, pages 1..50",
        await timed(db, samples, lambda n: page(big, HistoryFilter(), 1 + n % 50)),
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
