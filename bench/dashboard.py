"""Dashboard latency (p50/p95) and PDF build time on a seeded PostgreSQL database.

python -m bench.seed URL && python -m bench.dashboard URL --samples 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import date

from sqlalchemy import select

from bench.analytics import percentile
from bot import reports
from bot.config import Settings
from bot.db import Database
from bot.models import Client, User
from bot.runtime import Runtime
from bot.services import dashboard
from bot.storage import LocalStorage


async def run(url: str, samples: int, pdfs: int) -> None:
    db = Database(url)
    async with db.session() as session:
        client_ids = list(await session.scalars(select(Client.id)))
        actor = await session.scalar(select(User).where(User.slack_user_id == "UBENCH1"))
    rng = random.Random(5)
    timings, boards = [], []
    for client_id in [rng.choice(client_ids) for _ in range(samples)]:
        async with db.session() as session:
            started = time.perf_counter()
            boards.append(
                await dashboard.build(session, actor=actor, client_id=client_id, today=date.today())
            )
            timings.append((time.perf_counter() - started) * 1000)
    print(
        f"dashboard over {samples} random clients: p50 {percentile(timings, 50):.2f} ms, "
        f"p95 {percentile(timings, 95):.2f} ms"
    )
    rt = Runtime(
        settings=Settings(_env_file=None, DATABASE_URL=url), db=db, storage=LocalStorage("/tmp/bench")
    )
    pdf_times, sizes = [], []
    for board in boards[:pdfs]:
        started = time.perf_counter()
        sizes.append(len(reports.build_dashboard_pdf(board, rt.storage)))
        pdf_times.append((time.perf_counter() - started) * 1000)
    print(
        f"PDF with chart over {len(pdf_times)} clients: p50 {percentile(pdf_times, 50):.0f} ms, "
        f"p95 {percentile(pdf_times, 95):.0f} ms, max {max(pdf_times):.0f} ms, "
        f"~{sum(sizes) // len(sizes) // 1024} KB"
    )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--pdfs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.samples, args.pdfs))


if __name__ == "__main__":
    main()
