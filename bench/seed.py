"""Seed a database at benchmark scale with set-based SQL (seconds, not hours).

    python -m bench.seed postgresql+asyncpg://postgres@127.0.0.1:5432/clientbot_bench --clients 10000 \
        --jobs 50000 --applications 500000 --communications 1000000
    python -m bench.seed sqlite+aiosqlite:////tmp/bench.db   # 2,000 clients, 10k jobs, 100k applications,
                                                            # 100k communications (the file is recreated)

Besides the spread-out data, one big client (BIG_CLIENT_CODE) gets 500 jobs and 5,000 applications:
the issue's "up to 500 jobs per client" case, which bench.analytics reports separately. Every client has
the 90 days of nightly snapshots (client_analytics) a running install keeps, as dashboards read them.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from sqlalchemy import text

from bot.db import Database, migrate

BIG_CLIENT_CODE = "CLT-2021-000001"
BIG_CLIENT_JOBS = 500
BIG_CLIENT_APPLICATIONS_PER_JOB = 10  # 5,000 applications

# What the triggers of migrations 0020 and 0021 keep, for the rows PostgreSQL loads without them.
APPLICATION_CLIENTS = """
    UPDATE applications SET client_id = jobs.client_id FROM jobs WHERE jobs.id = applications.job_id"""
LATEST_MOVES = """
    UPDATE jobs SET pipeline_moved_at = (
        SELECT max(stage_changed_at) FROM applications WHERE applications.job_id = jobs.id
        AND applications.stage IN ('screened', 'shortlisted', 'interviewed', 'offered'))"""

STEPS = [
    (
        "users",
        """
        INSERT INTO users (id, slack_user_id, display_name, role, created_at, updated_at)
        SELECT gen_random_uuid(), 'UBENCH' || g, 'Manager ' || g, 'manager', now(), now()
        FROM generate_series(1, 50) g""",
    ),
    (
        "clients",
        """
        INSERT INTO clients (id, client_code, name, name_normalized, industry, status, account_manager_id,
                             created_by, created_at, updated_at)
        SELECT gen_random_uuid(), 'CLT-2020-' || lpad(g::text, 6, '0'),
               'Bench Client ' || g, 'bench client ' || g,
               (ARRAY['Technology','Health','Retail','Finance','Energy'])[1 + g % 5],
               (ARRAY['active','active','active','on-hold','inactive'])[1 + g % 5],
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH' || (1 + g % 50)),
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH1'),
               now() - (g % 1000) * interval '1 day', now()
        FROM generate_series(1, :clients) g""",
    ),
    (
        "jobs",
        """
        WITH numbered AS (SELECT id, row_number() OVER (ORDER BY client_code) AS n FROM clients)
        INSERT INTO jobs (id, reference, title, client_id, status, openings, opened_at, filled_at, fee,
                          created_at, updated_at)
        SELECT gen_random_uuid(), 'BJ-' || g, 'Role ' || g, c.id,
               (ARRAY['open','open','filled','on-hold','cancelled'])[1 + g % 5], 1 + g % 3,
               now() - (30 + g % 300) * interval '1 day',
               CASE WHEN g % 5 = 2 THEN now() - (g % 30) * interval '1 day' END,
               5000 + (g % 20) * 500, now(), now()
        FROM generate_series(1, :jobs) g
        JOIN numbered c ON c.n = 1 + (g % :clients)""",
    ),
    (
        "candidates",
        """
        INSERT INTO candidates (id, full_name, email, source, created_at)
        SELECT gen_random_uuid(), 'Candidate ' || g, 'c' || g || '@bench.example.com', 'bench', now()
        FROM generate_series(1, :applications / 2) g""",
    ),
    # Loaded without the triggers of migrations 0020 and 0021 (500k row triggers each), then backfilled.
    ("pausing the applications' triggers", "ALTER TABLE applications DISABLE TRIGGER USER"),
    (
        "applications",
        """
        WITH j AS (SELECT id, row_number() OVER (ORDER BY reference) AS n FROM jobs),
             c AS (SELECT id, row_number() OVER (ORDER BY email) AS n FROM candidates)
        INSERT INTO applications (id, job_id, candidate_id, stage, stage_changed_at, quality_score,
                                  offer_status, placement_fee, created_at, updated_at)
        SELECT gen_random_uuid(), j.id, c.id,
               (ARRAY['screened','shortlisted','interviewed','offered','hired','rejected'])[1 + g % 6],
               now(), CASE WHEN g % 3 = 0 THEN 1 + g % 5 END,
               CASE g % 6 WHEN 3 THEN 'made' WHEN 4 THEN 'accepted' WHEN 5 THEN
                   CASE WHEN g % 4 = 0 THEN 'declined' END END,
               CASE WHEN g % 6 = 4 THEN 4000 + g % 3000 END, now(), now()
        FROM generate_series(1, :applications) g
        JOIN j ON j.n = 1 + (g % :jobs)
        JOIN c ON c.n = 1 + ((g / :jobs + g) % (:applications / 2))
        ON CONFLICT DO NOTHING""",
    ),
    (
        "communications",
        """
        WITH c AS (SELECT id, row_number() OVER (ORDER BY client_code) AS n FROM clients),
             u AS (SELECT id FROM users WHERE slack_user_id = 'UBENCH1')
        INSERT INTO client_communications (id, client_id, communication_type, subject, notes,
                                           communication_date, participants, logged_by, is_important,
                                           follow_up_required, follow_up_date, attachments, created_at,
                                           source)
        SELECT gen_random_uuid(), c.id,
               (ARRAY['meeting','call','email','video_call','contract_signed'])[1 + g % 5],
               'Touchpoint ' || g || CASE WHEN g % 97 = 0 THEN ' salary negotiation' ELSE '' END,
               'Notes about hiring plans, budget and feedback ' || g,
               now() - (g % 20000) * interval '1 hour', '[]'::jsonb, u.id, g % 10 = 0, g % 50 = 0,
               CASE WHEN g % 50 = 0 THEN current_date + (g % 30) END, '[]'::jsonb, now(), 'slack'
        FROM generate_series(1, :communications) g
        JOIN c ON c.n = 1 + (g % :clients) CROSS JOIN u""",
    ),
    (
        "one big client",
        f"""
        INSERT INTO clients (id, client_code, name, name_normalized, industry, status, account_manager_id,
                             created_by, created_at, updated_at)
        SELECT gen_random_uuid(), '{BIG_CLIENT_CODE}', 'Bench Big Client', 'bench big client',
               'Technology', 'active', u.id, u.id, now() - interval '900 days', now()
        FROM users u WHERE u.slack_user_id = 'UBENCH1'""",
    ),
    (
        f"its {BIG_CLIENT_JOBS} jobs",
        f"""
        INSERT INTO jobs (id, reference, title, client_id, status, openings, opened_at, filled_at, fee,
                          created_at, updated_at)
        SELECT gen_random_uuid(), 'BJ-BIG-' || g, 'Big role ' || g,
               (SELECT id FROM clients WHERE client_code = '{BIG_CLIENT_CODE}'),
               (ARRAY['open','open','filled','on-hold','cancelled'])[1 + g % 5], 1 + g % 3,
               now() - (30 + g % 300) * interval '1 day',
               CASE WHEN g % 5 = 2 THEN now() - (g % 30) * interval '1 day' END,
               5000 + (g % 20) * 500, now(), now()
        FROM generate_series(1, {BIG_CLIENT_JOBS}) g""",
    ),
    (
        f"its {BIG_CLIENT_JOBS * BIG_CLIENT_APPLICATIONS_PER_JOB} applications",
        f"""
        WITH j AS (SELECT id, row_number() OVER (ORDER BY reference) AS n FROM jobs
                   WHERE reference LIKE 'BJ-BIG-%'),
             c AS (SELECT id, row_number() OVER (ORDER BY email) AS n FROM candidates),
             total AS (SELECT count(*) AS n FROM candidates)
        INSERT INTO applications (id, job_id, candidate_id, stage, stage_changed_at, quality_score,
                                  offer_status, placement_fee, created_at, updated_at)
        SELECT gen_random_uuid(), j.id, c.id,
               (ARRAY['screened','shortlisted','interviewed','offered','hired','rejected'])[1 + k % 6],
               now(), CASE WHEN k % 3 = 0 THEN 1 + (j.n + k) % 5 END,
               CASE k % 6 WHEN 3 THEN 'made' WHEN 4 THEN 'accepted' WHEN 5 THEN
                   CASE WHEN j.n % 4 = 0 THEN 'declined' END END,
               CASE WHEN k % 6 = 4 THEN 4000 + j.n % 3000 END, now(), now()
        FROM j CROSS JOIN generate_series(1, {BIG_CLIENT_APPLICATIONS_PER_JOB}) k CROSS JOIN total
        JOIN c ON c.n = 1 + ((j.n * {BIG_CLIENT_APPLICATIONS_PER_JOB} + k) % total.n)
        ON CONFLICT DO NOTHING""",
    ),
    ("each application's client", APPLICATION_CLIENTS),
    ("each job's latest move in play", LATEST_MOVES),
    ("resuming the applications' triggers", "ALTER TABLE applications ENABLE TRIGGER USER"),
    (
        "one client with 1,000 communications",
        """
        INSERT INTO client_communications (id, client_id, communication_type, subject, notes,
                                           communication_date, participants, logged_by, is_important,
                                           follow_up_required, attachments, created_at, source)
        SELECT gen_random_uuid(), (SELECT id FROM clients ORDER BY client_code LIMIT 1), 'meeting',
               'Big account meeting ' || g, 'Weekly sync', now() - g * interval '1 hour', '[]'::jsonb,
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH1'), false, false, '[]'::jsonb, now(),
               'slack'
        FROM generate_series(1, 1000) g""",
    ),
    (
        "90 nightly snapshots a client",
        """
        INSERT INTO client_analytics (id, client_id, date, active_jobs_count, total_candidates_count,
                                      screened_count, shortlisted_count, interviewed_count, hired_count,
                                      revenue_generated)
        SELECT gen_random_uuid(), c.id, current_date - d, d % 7, 10 + d % 5, d % 3, d % 2, 1, d % 4,
               1000 * (d % 9)
        FROM clients c, generate_series(1, 90) d""",
    ),
    # As autovacuum leaves a running install's tables: statistics, and the visibility map set, so that a
    # count reads an index only (unvacuumed, a list's total read the whole clients table every time).
    ("vacuum analyze", "VACUUM ANALYZE"),
]

# SQLite: the same shape at a smaller default scale, with recursive CTEs for generate_series and the types
# SQLAlchemy stores there (UUIDs as 32 hex digits, naive UTC timestamps as text, booleans as 0/1).
_SERIES = "WITH RECURSIVE g(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM g WHERE g < {n})"
_UUID = "lower(hex(randomblob(16)))"
_NOW = "strftime('%Y-%m-%d %H:%M:%S', 'now') || '.000000'"


def _ago(amount: str, unit: str) -> str:
    return f"strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ({amount}) || ' {unit}') || '.000000'"


def _pick(values: list[str], index: str) -> str:
    return "json_extract('[" + ",".join(f'"{v}"' for v in values) + f"]', '$[' || ({index}) || ']')"


SQLITE_STEPS = [
    (
        "users",
        f"""{_SERIES.format(n=50)}
        INSERT INTO users (id, slack_user_id, display_name, role, created_at, updated_at)
        SELECT {_UUID}, 'UBENCH' || g, 'Manager ' || g, 'manager', {_NOW}, {_NOW} FROM g""",
    ),
    (
        "clients",
        f"""{_SERIES.format(n=":clients")}
        INSERT INTO clients (id, client_code, name, name_normalized, industry, status, account_manager_id,
                             created_by, created_at, updated_at)
        SELECT {_UUID}, 'CLT-2020-' || printf('%06d', g), 'Bench Client ' || g, 'bench client ' || g,
               {_pick(["Technology", "Health", "Retail", "Finance", "Energy"], "g % 5")},
               {_pick(["active", "active", "active", "on-hold", "inactive"], "g % 5")},
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH' || (1 + g % 50)),
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH1'), {_ago("g % 1000", "days")}, {_NOW}
        FROM g""",
    ),
    (
        "jobs",
        f"""{_SERIES.format(n=":jobs")},
        numbered AS (SELECT id, row_number() OVER (ORDER BY client_code) AS n FROM clients)
        INSERT INTO jobs (id, reference, title, client_id, status, openings, opened_at, filled_at, fee,
                          created_at, updated_at)
        SELECT {_UUID}, 'BJ-' || g, 'Role ' || g, c.id,
               {_pick(["open", "open", "filled", "on-hold", "cancelled"], "g % 5")}, 1 + g % 3,
               {_ago("30 + g % 300", "days")}, CASE WHEN g % 5 = 2 THEN {_ago("g % 30", "days")} END,
               5000 + (g % 20) * 500, {_NOW}, {_NOW}
        FROM g JOIN numbered c ON c.n = 1 + (g % :clients)""",
    ),
    (
        "candidates",
        f"""{_SERIES.format(n=":applications / 2")}
        INSERT INTO candidates (id, full_name, email, source, created_at)
        SELECT {_UUID}, 'Candidate ' || g, 'c' || g || '@bench.example.com', 'bench', {_NOW} FROM g""",
    ),
    (
        "applications",
        f"""{_SERIES.format(n=":applications")},
        j AS (SELECT id, row_number() OVER (ORDER BY reference) AS n FROM jobs),
        c AS (SELECT id, row_number() OVER (ORDER BY email) AS n FROM candidates)
        INSERT OR IGNORE INTO applications (id, job_id, candidate_id, stage, stage_changed_at, quality_score,
                                            offer_status, placement_fee, created_at, updated_at)
        SELECT {_UUID}, j.id, c.id,
               {_pick(["screened", "shortlisted", "interviewed", "offered", "hired", "rejected"], "g % 6")},
               {_NOW}, CASE WHEN g % 3 = 0 THEN 1 + g % 5 END,
               CASE g % 6 WHEN 3 THEN 'made' WHEN 4 THEN 'accepted' WHEN 5 THEN
                   CASE WHEN g % 4 = 0 THEN 'declined' END END,
               CASE WHEN g % 6 = 4 THEN 4000 + g % 3000 END, {_NOW}, {_NOW}
        FROM g JOIN j ON j.n = 1 + (g % :jobs) JOIN c ON c.n = 1 + ((g / :jobs + g) % (:applications / 2))""",
    ),
    (
        "communications",
        f"""{_SERIES.format(n=":communications")},
        c AS (SELECT id, row_number() OVER (ORDER BY client_code) AS n FROM clients)
        INSERT INTO client_communications (id, client_id, communication_type, subject, notes,
                                           communication_date, participants, logged_by, is_important,
                                           follow_up_required, follow_up_date, attachments, created_at,
                                           source)
        SELECT {_UUID}, c.id, {_pick(["meeting", "call", "email", "video_call", "contract_signed"], "g % 5")},
               'Touchpoint ' || g || CASE WHEN g % 97 = 0 THEN ' salary negotiation' ELSE '' END,
               'Notes about hiring plans, budget and feedback ' || g, {_ago("g % 20000", "hours")}, '[]',
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH1'), g % 10 = 0, g % 50 = 0,
               CASE WHEN g % 50 = 0 THEN date('now', '+' || (g % 30) || ' days') END, '[]', {_NOW}, 'slack'
        FROM g JOIN c ON c.n = 1 + (g % :clients)""",
    ),
    (
        "one big client",
        f"""INSERT INTO clients (id, client_code, name, name_normalized, industry, status, account_manager_id,
                             created_by, created_at, updated_at)
        SELECT {_UUID}, '{BIG_CLIENT_CODE}', 'Bench Big Client', 'bench big client', 'Technology', 'active',
               u.id, u.id, {_ago("900", "days")}, {_NOW}
        FROM users u WHERE u.slack_user_id = 'UBENCH1'""",
    ),
    (
        f"its {BIG_CLIENT_JOBS} jobs",
        f"""{_SERIES.format(n=BIG_CLIENT_JOBS)}
        INSERT INTO jobs (id, reference, title, client_id, status, openings, opened_at, filled_at, fee,
                          created_at, updated_at)
        SELECT {_UUID}, 'BJ-BIG-' || g, 'Big role ' || g,
               (SELECT id FROM clients WHERE client_code = '{BIG_CLIENT_CODE}'),
               {_pick(["open", "open", "filled", "on-hold", "cancelled"], "g % 5")}, 1 + g % 3,
               {_ago("30 + g % 300", "days")}, CASE WHEN g % 5 = 2 THEN {_ago("g % 30", "days")} END,
               5000 + (g % 20) * 500, {_NOW}, {_NOW}
        FROM g""",
    ),
    (
        f"its {BIG_CLIENT_JOBS * BIG_CLIENT_APPLICATIONS_PER_JOB} applications",
        f"""{_SERIES.format(n=BIG_CLIENT_APPLICATIONS_PER_JOB)},
        j AS (SELECT id, row_number() OVER (ORDER BY reference) AS n FROM jobs
              WHERE reference LIKE 'BJ-BIG-%'),
        c AS (SELECT id, row_number() OVER (ORDER BY email) AS n FROM candidates),
        total AS (SELECT count(*) AS n FROM candidates)
        INSERT OR IGNORE INTO applications (id, job_id, candidate_id, stage, stage_changed_at, quality_score,
                                            offer_status, placement_fee, created_at, updated_at)
        SELECT {_UUID}, j.id, c.id,
               {_pick(["screened", "shortlisted", "interviewed", "offered", "hired", "rejected"], "g % 6")},
               {_NOW}, CASE WHEN g % 3 = 0 THEN 1 + (j.n + g) % 5 END,
               CASE g % 6 WHEN 3 THEN 'made' WHEN 4 THEN 'accepted' WHEN 5 THEN
                   CASE WHEN j.n % 4 = 0 THEN 'declined' END END,
               CASE WHEN g % 6 = 4 THEN 4000 + j.n % 3000 END, {_NOW}, {_NOW}
        FROM j CROSS JOIN g CROSS JOIN total
        JOIN c ON c.n = 1 + ((j.n * {BIG_CLIENT_APPLICATIONS_PER_JOB} + g) % total.n)""",
    ),
    (
        "one client with 1,000 communications",
        f"""{_SERIES.format(n=1000)}
        INSERT INTO client_communications (id, client_id, communication_type, subject, notes,
                                           communication_date, participants, logged_by, is_important,
                                           follow_up_required, attachments, created_at, source)
        SELECT {_UUID}, (SELECT id FROM clients ORDER BY client_code LIMIT 1), 'meeting',
               'Big account meeting ' || g, 'Weekly sync', {_ago("g", "hours")}, '[]',
               (SELECT id FROM users WHERE slack_user_id = 'UBENCH1'), 0, 0, '[]', {_NOW}, 'slack'
        FROM g""",
    ),
    (
        "90 nightly snapshots a client",
        f"""{_SERIES.format(n=90)}
        INSERT INTO client_analytics (id, client_id, date, active_jobs_count, total_candidates_count,
                                      screened_count, shortlisted_count, interviewed_count, hired_count,
                                      revenue_generated)
        SELECT {_UUID}, c.id, date('now', '-' || g || ' days'), g % 7, 10 + g % 5, g % 3, g % 2, 1, g % 4,
               1000 * (g % 9)
        FROM clients c, g""",
    ),
    ("analyze", "ANALYZE"),
]


async def seed(url: str, *, clients: int, jobs: int, applications: int, communications: int) -> None:
    db = Database(url)
    if db.is_postgres:
        steps = STEPS
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        steps = SQLITE_STEPS
        path = Path(db.engine.url.database or "")
        assert path.name and path.name != ":memory:", "a SQLite file to (re)create"
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
    await migrate(db)
    params = {
        "clients": clients,
        "jobs": jobs,
        "applications": applications,
        "communications": communications,
    }
    for name, sql in steps:
        started = time.perf_counter()
        # VACUUM runs outside a transaction
        engine = db.autocommit_engine if sql.startswith("VACUUM") else db.engine
        async with engine.begin() as conn:
            await conn.execute(text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
        print(f"seeded {name} in {time.perf_counter() - started:.1f}s")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--applications", type=int)
    parser.add_argument("--communications", type=int)
    args = parser.parse_args()
    scale = (
        (2_000, 10_000, 100_000, 100_000)
        if args.url.startswith("sqlite")
        else (10_000, 50_000, 500_000, 1_000_000)
    )
    for name, default in zip(("clients", "jobs", "applications", "communications"), scale, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    asyncio.run(
        seed(
            args.url,
            clients=args.clients,
            jobs=args.jobs,
            applications=args.applications,
            communications=args.communications,
        )
    )


if __name__ == "__main__":
    main()
