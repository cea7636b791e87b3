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
from bench.seed import BIG_CLIENT_CODE
from bot import render
from bot.db import Database
from bot.models import Client, User
from bot.services import dashboard
from bot.services.dashboard import Dashboard
from bot.storage import LocalStorage


async def _build(db: Database, actor: User, client_ids: list) -> tuple[list[float], list[Dashboard]]:
    timings, boards = [], []
    for client_id in client_ids:
        async with db.session() as session:
            started = time.perf_counter()
            boards.append(
                await dashboard.build(session, actor=actor, client_id=client_id, today=date.today())
            )
            timings.append((time.perf_counter() - started) * 1000)
    return timings, boards


async def _pdfs(boards: list[Dashboard], storage: LocalStorage) -> tuple[list[float], list[int]]:
    times, sizes = [], []
    for board in boards:
        started = time.perf_counter()
        sizes.append(len(await render.build_dashboard_pdf(board, storage)))
        times.append((time.perf_counter() - started) * 1000)
    return times, sizes


async def run(url: str, samples: int, pdfs: int) -> None:
    db = Database(url)
    async with db.session() as session:
        client_ids = list(await session.scalars(select(Client.id)))
        actor = await session.scalar(select(User).where(User.slack_user_id == "UBENCH1"))
        big = await session.scalar(select(Client.id).where(Client.client_code == BIG_CLIENT_CODE))
    rng = random.Random(5)
    timings, boards = await _build(db, actor, [rng.choice(client_ids) for _ in range(samples)])
    print(
        f"dashboard over {samples} random clients: p50 {percentile(timings, 50):.2f} ms, "
        f"p95 {percentile(timings, 95):.2f} ms"
    )
    storage = LocalStorage("/tmp/bench")
    pdf_times, sizes = await _pdfs(boards[:pdfs], storage)
    print(
        f"PDF with chart over {len(pdf_times)} clients: p50 {percentile(pdf_times, 50):.0f} ms, "
        f"p95 {percentile(pdf_times, 95):.0f} ms, max {max(pdf_times):.0f} ms, "
        f"~{sum(sizes) // len(sizes) // 1024} KB"
    )
    if big is not None:
        timings, boards = await _build(db, actor, [big] * 50)
        pdf_times, _ = await _pdfs(boards[:10], storage)
        print(
            f"big client {BIG_CLIENT_CODE} (500 jobs, 5,000 applications), 50 runs: dashboard "
            f"p50 {percentile(timings, 50):.2f} ms, p95 {percentile(timings, 95):.2f} ms; "
            f"PDF p50 {percentile(pdf_times, 50):.0f} ms, max {max(pdf_times):.0f} ms"
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
