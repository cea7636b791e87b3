"""Onboarding at scale: a HubSpot-style contacts export of N clients with 3 contacts each (10,000 clients,
30,000 contacts by default) imported with `client_imports.import_clients`, the service behind
`clientbot import clients`, into an empty database. Prints the file's size, then the time to read,
validate and check it (a dry run) and to import it, and what was created.

    createdb -h 127.0.0.1 -U postgres cb_bench_import
    python -m bench.import_clients postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_import \
        [--clients 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import time

from sqlalchemy import func, select, text

from bot.db import Database, migrate
from bot.models import Base, Client, ClientContact, Role
from bot.services import client_imports, users

HEADER = ["First Name", "Last Name", "Email", "Phone Number", "Job Title", "Company name",
          "Company Domain Name", "City", "Country/Region", "Postal Code"]  # fmt: skip
FIRST = ["Amélie", "Jürgen", "Zoë", "Noël", "Ann", "Bob", "Chloé", "Dmitri", "Eva", "Farid"]
LAST = ["Durand", "Müller", "Brontë", "Dupré", "Lee", "Ray", "Martín", "Ivanov", "Novák", "Haddad"]
TITLES = ["HR Director", "Talent Lead", "CFO", "Office Manager", "Recruiter"]


def export(clients: int, contacts_per_client: int = 3) -> bytes:
    """The CSV: one row per contact, each client's rows together, valid UK phone numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for c in range(clients):
        company, domain = f"Société {c:05d} Ltd", f"company{c:05d}.example.com"
        for k in range(contacts_per_client):
            first, last = FIRST[(c + k) % 10], LAST[(c * 3 + k) % 10]
            phone = f"020 7946 {(c * contacts_per_client + k) % 10000:04d}" if k == 0 else ""
            writer.writerow([first, last, f"{first[0].lower()}{k}.{c}@{domain}", phone, TITLES[k % 5],
                             company, domain, "London", "United Kingdom", "EC1A 1BB"])  # fmt: skip
    return buffer.getvalue().encode("utf-8")


async def main(url: str, clients: int) -> None:
    db = Database(url)
    await migrate(db)
    async with db.engine.begin() as conn:  # an empty database each run (the bench's own)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "alembic_version")
        if db.is_postgres:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    async with db.session() as session:
        actor = await users.resolve(session, slack_user_id="UBENCH", admins=(), display_name="bench")
        actor.role = Role.MANAGER.value
        actor_id = actor.id
    data = export(clients)
    rows = data.count(b"\n") - 1
    print(f"file: {clients} clients, {rows} contact rows, {len(data) / 1e6:.1f} MB")

    started = time.perf_counter()
    dry = await client_imports.import_clients(db, data=data, actor_id=actor_id, dry_run=True)
    print(f"dry run: {time.perf_counter() - started:6.2f} s  {dry.summary()}")

    started = time.perf_counter()
    report = await client_imports.import_clients(db, data=data, actor_id=actor_id)
    elapsed = time.perf_counter() - started
    async with db.session() as session:
        stored = await session.scalar(select(func.count()).select_from(Client))
        contacts = await session.scalar(select(func.count()).select_from(ClientContact))
    print(f"import:  {elapsed:6.2f} s  {report.summary()}")
    print(f"stored: {stored} clients, {contacts} contacts; {contacts / elapsed:,.0f} contacts/s")
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "url", nargs="?", default="postgresql+asyncpg://postgres@127.0.0.1:5432/cb_bench_import"
    )
    parser.add_argument("--clients", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.clients))
