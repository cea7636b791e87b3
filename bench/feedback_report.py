"""Time to build a performance report over 5 years of quarterly feedback (20 quarters, 3 submitters each):
the report query, the trend chart and the PDF. Writes the chart and the PDF next to it for a look.

    python -m bench.feedback_report [DATABASE_URL] --out /tmp/feedback-report
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.analytics import percentile
from bot.db import Database, migrate
from bot.models import Role
from bot.reports import performance_chart, performance_pdf
from bot.services import clients, feedback, users
from bot.services.periods import previous

RATINGS = (
    "responsiveness_rating",
    "communication_rating",
    "requirements_clarity_rating",
    "decision_speed_rating",
    "overall_satisfaction",
)


def _write(out: Path, chart: bytes, pdf: bytes) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "trend.png").write_bytes(chart)
    (out / "report.pdf").write_bytes(pdf)


async def run(url: str, out: Path, rounds: int) -> None:
    db = Database(url)
    await migrate(db)
    rng = random.Random(3)
    async with db.session() as session:
        managers = []
        for n in range(3):
            person = await users.resolve(
                session, slack_user_id=f"UFB{n}", admins=(), display_name=f"Manager {n}"
            )
            person.role = Role.MANAGER.value
            managers.append(person)
        data = clients.parse_client(
            {
                "name": f"Bench Feedback {rng.randint(0, 10**9)}",
                "contacts": [{"full_name": "B", "email": "b@bench-feedback.example.com"}],
            }
        )
        client = await clients.create(session, actor=managers[0], data=data, confirm_duplicate=True)
        quarters = [previous("2026-Q3", n) for n in range(20)][::-1]
        for index, quarter in enumerate(quarters):
            base = 2 + 2.5 * index / len(quarters)
            for person in managers:
                scores = {c: max(1, min(5, round(base + rng.uniform(-1, 1)))) for c in RATINGS}
                await feedback.submit(
                    session,
                    actor=person,
                    client_id=client.id,
                    today=date(2026, 10, 1),
                    data=feedback.parse_feedback(
                        {"feedback_period": quarter, **scores, "written_feedback": f"Notes for {quarter}"}
                    ),
                )
    timings: dict[str, list[float]] = {"query": [], "chart": [], "pdf": [], "total": []}
    for _ in range(rounds):
        started = time.perf_counter()
        async with db.session() as session:
            report = await feedback.report(
                session,
                actor=managers[0],
                client_id=client.id,
                period="2026-Q3",
                vs="2026-Q2",
                today=date(2026, 11, 25),
            )
        queried = time.perf_counter()
        chart = performance_chart(report)
        charted = time.perf_counter()
        pdf = performance_pdf(report, chart)
        done = time.perf_counter()
        for key, value in (
            ("query", queried - started),
            ("chart", charted - queried),
            ("pdf", done - charted),
            ("total", done - started),
        ):
            timings[key].append(value * 1000)
    await asyncio.to_thread(_write, out, chart, pdf)
    print(
        f"{len(report.periods)} quarters, {sum(s.responses for s in report.periods)} responses;"
        f" {rounds} builds"
    )
    for key, values in timings.items():
        print(
            f"{key:<6} p50 {percentile(values, 50):7.1f} ms  p95 {percentile(values, 95):7.1f} ms"
            f"  mean {statistics.fmean(values):7.1f} ms"
        )
    print(f"wrote {out / 'trend.png'} and {out / 'report.pdf'}")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default=f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "feedback-report")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.out, args.rounds))


if __name__ == "__main__":
    main()
