"""Every surface issue 12 touched, as a person sees it: from the demo agency (bot/demo.py) through the
real services and view builders, each surface's Block Kit JSON, its picture (../shared/tools/slack_look.py,
Debian chromium), the charts as PNG and the PDFs' pages as PNG (pdftoppm).

    python -m bench.gallery OUT_DIR [--database-url URL]

Without --database-url a scratch SQLite database in OUT_DIR is filled with the demo. Prints each surface
with its block count; `index.json` lists them."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot import clock, render, reports
from bot.config import Settings
from bot.db import migrate
from bot.demo import PEOPLE
from bot.demo import build as build_demo
from bot.models import Client, User
from bot.runtime import Runtime
from bot.services import bulk, communications, dashboard, digest, feedback, health
from views import bulk as bulk_views
from views import communications as comm_views
from views import dashboard as dashboard_views
from views import digest as digest_views

LOOK = Path(__file__).resolve().parents[1] / ".." / "shared" / "tools" / "slack_look.py"


class Gallery:
    def __init__(self, out: Path) -> None:
        self.out, self.index = out, []
        out.mkdir(parents=True, exist_ok=True)

    def surface(self, name: str, payload: dict[str, Any], users: str) -> None:
        """Write NAME.json and render NAME.png."""
        path = self.out / f"{name}.json"
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
        blocks = len(payload.get("blocks", []))
        rendered = self.out / f"{name}.png"
        if LOOK.exists() and shutil.which("chromium"):
            subprocess.run(
                [sys.executable, str(LOOK), str(path), str(rendered), f"--users={users}"],
                check=True,
                capture_output=True,
            )
        self.index.append({"surface": name, "blocks": blocks, "json": path.name, "png": rendered.name})
        print(f"{name:32} {blocks:3} blocks")

    def picture(self, name: str, png: bytes) -> None:
        (self.out / f"{name}.png").write_bytes(png)
        self.index.append({"surface": name, "png": f"{name}.png"})
        print(f"{name:32} chart")

    def pdf(self, name: str, content: bytes) -> None:
        path = self.out / f"{name}.pdf"
        path.write_bytes(content)
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "70", str(path), str(self.out / name)], check=True)
        pages = sorted(p.name for p in self.out.glob(f"{name}-*.png"))
        self.index.append({"surface": name, "pdf": path.name, "pages": pages})
        print(f"{name:32} PDF, {len(pages)} page(s)")


async def run(out: Path, database_url: str | None) -> None:
    settings = Settings(
        _env_file=None, DATABASE_URL=database_url or f"sqlite+aiosqlite:///{out / 'gallery.db'}"
    )
    rt = Runtime.from_settings(settings)
    gallery = Gallery(out)
    users = ",".join(f"{slack_id}={name}" for slack_id, name, _ in PEOPLE)
    today = clock.today(settings.tz)
    try:
        await migrate(rt.db)
        await build_demo(rt.db, today=today)
        async with rt.db.session() as session:
            people = {u.slack_user_id: u for u in await session.scalars(select(User))}
            for role, slack_id in (
                ("admin", "UDEMOADMIN"),
                ("manager", "UDEMOMGR1"),
                ("recruiter", "UDEMOREC1"),
            ):
                viewer = people[slack_id]
                board = await dashboard.home(session, viewer=viewer, today=today)
                if board.portfolio:
                    ids = [row.client.id for row in board.portfolio.rows]
                    board.portfolio.health = await health.compute(session, ids, today=today)
                view = dashboard_views.home_view(
                    viewer, board, can_create=role != "recruiter", filters={}, today=today
                )
                gallery.surface(f"home-{role}", view, users)
            first = await session.scalar(select(Client).order_by(Client.client_code).limit(1))
            card = await dashboard.build(session, actor=people["UDEMOMGR1"], client_id=first.id, today=today)
            card.health = await health.of_client(session, card.client, today=today)
            gallery.surface("dashboard", dashboard_views.dashboard_message(card, can_edit=True), users)
            gallery.surface("dashboard-shared", dashboard_views.dashboard_message(card, shared=True), users)
            gallery.picture("dashboard-chart", reports.dashboard_chart(card))
            gallery.pdf("dashboard-pdf", await render.build_dashboard_pdf(card, rt.storage))
            due = await communications.open_follow_ups(session, today=today + timedelta(days=14))
            if due:
                items = max(due.values(), key=len)
                gallery.surface("nudge", comm_views.nudge_message(items, today), users)
            history = await feedback.by_period(session, actor=people["UDEMOMGR1"], client_id=first.id)
            if len(history) >= 2:
                performance = await feedback.report(
                    session, actor=people["UDEMOMGR1"], client_id=first.id, period=None, vs=None, today=today
                )
                gallery.picture("performance-chart", reports.performance_chart(performance))
                gallery.pdf("performance-pdf", await render.build_performance_pdf(performance, rt.storage))
            codes = list(
                await session.scalars(select(Client.client_code).order_by(Client.client_code).limit(3))
            )
        end = datetime.combine(today - timedelta(days=today.weekday()), datetime.min.time(), UTC)
        async with rt.db.session() as session:
            await health.snapshot_all(session, today)  # what the digest's "at risk this week" reads
        for name, start in (
            ("digest", end - timedelta(days=7)),
            ("digest-quiet-week", end - timedelta(days=400)),
        ):
            async with rt.db.session() as session:
                summary = await digest.weekly(
                    session, start=start, end=start + timedelta(days=7), today=today
                )
                summary.health = await health.risk_report(session, today=today)
            gallery.surface(name, digest_views.digest_message(summary, private=True), users)
            if summary.hires:
                gallery.picture(
                    f"{name}-chart",
                    reports.bar_chart(
                        [d for d, _ in summary.hires_per_day],
                        [n for _, n in summary.hires_per_day],
                        title=f"Hires per day, {digest_views.digest_span(summary)}",
                        unit="hires",
                    ),
                )
        data = bulk.parse_bulk(
            {
                "client_ids": codes,
                "operation": "change_status",
                "parameters": {"status": "on-hold", "reason": "budget freeze"},
                "dry_run": True,
            }
        )
        results = await bulk.run(rt.db, actor_id=people["UDEMOMGR1"].id, data=data)
        gallery.surface("bulk-preview", {"view": bulk_views.preview_view(results, data)}["view"], users)
    finally:
        await rt.db.dispose()
    (out / "index.json").write_text(json.dumps(gallery.index, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(run(args.out, args.database_url))


if __name__ == "__main__":
    main()
