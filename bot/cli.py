"""`clientbot` command line: serve, migrate, api-token (create, list, revoke), import, report, jobs,
db harden, privacy (export, erase)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bot import clock
from bot.config import Settings, get_settings
from bot.db import migrate
from bot.errors import DomainError
from bot.memory import settle_heap
from bot.models import Role
from bot.runtime import Runtime
from bot.services import api_tokens, imports, users

SETUP_HELP = """clientbot needs Slack credentials to serve.

1. Create the app: https://api.slack.com/apps -> Create New App -> From an app manifest,
   pick your workspace and paste manifest.yml from this repository
   (set request_url to https://YOUR-HOST/slack/events, or turn on Socket Mode).
2. Install it to the workspace, then set:
     SLACK_BOT_TOKEN=xoxb-...        (OAuth & Permissions -> Bot User OAuth Token)
     SLACK_SIGNING_SECRET=...        (Basic Information -> App Credentials), for HTTP mode
   or, for Socket Mode instead of a public URL:
     SLACK_APP_TOKEN=xapp-...        (Basic Information -> App-Level Tokens, scope connections:write)
3. Run `clientbot serve` again. Put the variables in the environment or in a .env file."""


def missing_credentials(settings: Settings) -> list[str]:
    missing = [] if settings.slack_bot_token else ["SLACK_BOT_TOKEN"]
    if not settings.slack_app_token and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)")
    return missing


async def serve(settings: Settings) -> None:
    from aiohttp import web

    from bot import telemetry
    from bot.app import create_bolt_app, create_web_app

    rt = Runtime.from_settings(settings)
    await _start(rt)
    bolt = create_bolt_app(rt)
    socket_mode = bool(settings.slack_app_token)
    runner = web.AppRunner(
        create_web_app(rt, None if socket_mode else bolt), access_log_class=telemetry.AccessLog
    )
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", settings.port).start()
    logging.info("clientbot listening on :%s (%s)", settings.port, "Socket Mode" if socket_mode else "HTTP")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    from bot.scheduler import build_scheduler

    scheduler = build_scheduler(rt)
    scheduler.start()
    logging.info("start-up heap frozen: %d objects", settle_heap())
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(bolt, settings.slack_app_token)
        await socket_handler.connect_async()
    try:
        await stop.wait()
    finally:
        # Stop taking work (/readyz 503, new requests 503, no socket), let what was acked finish within
        # CLIENTBOT_SHUTDOWN_GRACE, then close the scheduler, the listener, the store and the pools.
        logging.info("stopping: draining for at most %s s", settings.shutdown_grace)
        if socket_handler:
            await socket_handler.close_async()
        await rt.lifecycle.drain()
        scheduler.shutdown(wait=False)
        await runner.cleanup()
        logging.info("stopped")


def serve_workers(settings: Settings, workers: int) -> None:
    """`serve --workers N`: migrate here, once, then serve from N gunicorn workers (bot/workers.py)."""
    from bot import workers as gunicorn_workers

    asyncio.run(_migrate(settings))
    logging.info("clientbot listening on :%s (HTTP, %d workers)", settings.port, workers)
    gunicorn_workers.run(settings, workers)


async def _start(rt: Runtime) -> None:
    """What `serve` and `migrate` do first: bring the schema to head, then make the admin role follow
    CLIENTBOT_ADMINS (each promotion and demotion is in the audit log)."""
    await migrate(rt.db)
    async with rt.db.session() as session:
        for user, before, after in await users.sync_admins(session, rt.settings.admins):
            logging.warning(
                "CLIENTBOT_ADMINS: %s (%s) %s -> %s", user.slack_user_id, user.display_name, before, after
            )


async def _migrate(settings: Settings) -> None:
    rt = Runtime.from_settings(settings)
    try:
        await _start(rt)
    finally:
        await rt.db.dispose()


async def _operator(rt: Runtime) -> uuid.UUID:
    """The command line acts as an operator account (an admin), so its writes are audited like any other."""
    async with rt.db.session() as session:
        user = await users.resolve(
            session, slack_user_id="cli:operator", admins=(), display_name="Command line"
        )
        user.role = Role.ADMIN.value
        return user.id


async def _create_token(
    settings: Settings, role: Role, name: str, expires_in: str | None, expires: str | None
) -> tuple[str, datetime | None]:
    expires_at = api_tokens.expiry_from(expires_in=expires_in, expires=expires, tz=settings.tz)
    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        async with rt.db.session() as session:
            token, row = await api_tokens.create(session, name=name, role=role, expires_at=expires_at)
        return token, row.expires_at
    finally:
        await rt.db.dispose()


def _when(moment: datetime | None, settings: Settings, never: str = "-") -> str:
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if moment else never


async def _list_tokens(settings: Settings) -> list[str]:
    """One line per token: id prefix, name, role, created, last used, expiry, state; never the token."""
    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        async with rt.db.session() as session:
            tokens = await api_tokens.list_tokens(session)
    finally:
        await rt.db.dispose()
    head = ("ID", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "STATE")
    rows = [
        (
            t.id_prefix,
            t.name,
            t.role,
            _when(t.created_at, settings),
            _when(t.last_used_at, settings, "never"),
            _when(t.expires_at, settings, "never"),
            f"revoked {_when(t.revoked_at, settings)}" if t.state == "revoked" else t.state,
        )
        for t in tokens
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    lines.append(f"(times in {settings.tz.key}; {len(rows)} token{'s' * (len(rows) != 1)})")
    return lines


async def _revoke_token(settings: Settings, reference: str) -> str:
    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        operator = await _operator(rt)
        async with rt.db.session() as session:
            actor = await users.get(session, operator)
            row, now = await api_tokens.revoke(session, actor=actor, reference=reference)
            at = _when(row.revoked_at, settings)
        label = f"{row.id.hex[: api_tokens.ID_PREFIX_LENGTH]} ({row.name}, {row.role})"
        return f"revoked {label}" if now else f"{label} was already revoked at {at}"
    finally:
        await rt.db.dispose()


def _progress(total: int) -> Callable[[int], None]:
    def show(done: int) -> None:
        if done % 50 and done != total:
            return
        filled = int(30 * done / max(total, 1))
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)

    return show


async def _import(settings: Settings, kind: str, path: Path) -> int:
    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        total = sum(1 for _ in imports.read_csv(path))
        report = await imports.import_csv(
            rt.db,
            kind=kind,
            path=path,
            actor_id=await _operator(rt),
            tz=settings.tz,
            progress=_progress(total),
        )
    finally:
        await rt.db.dispose()
    print(file=sys.stderr)
    print(
        f"{report.rows} rows: {report.created} created, {report.updated} updated, {len(report.failed)} failed"
    )
    for failure in report.failed:
        problems = "; ".join(f"{k}: {v}" for k, v in failure.errors.items())
        print(f"  line {failure.line}: {problems}")
    return 1 if report.failed else 0


ONBOARDING = ("clients", "communications")


def _counter(done: int, total: int) -> None:
    filled = int(30 * done / max(total, 1))
    print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)


async def _onboard(settings: Settings, args: argparse.Namespace) -> int:
    """`import clients|communications`: the report on stdout, the refused lines in a CSV next to it."""
    from bot.services import client_imports, communication_imports

    fields = (
        client_imports.CLIENT_IMPORT_FIELDS
        if args.kind == "clients"
        else communication_imports.COMMUNICATION_FIELDS
    )
    mapping = client_imports.parse_map(args.map, fields)
    rt = Runtime.from_settings(settings)
    options = {
        "data": args.file.read_bytes(),
        "dry_run": args.dry_run,
        "mapping": mapping,
        "tz": settings.tz,
        "progress": _counter,
    }
    try:
        await migrate(rt.db)
        actor_id = await _operator(rt)
        if args.kind == "clients":
            report = await client_imports.import_clients(
                rt.db, actor_id=actor_id, update=args.update, **options
            )
        else:
            report = await communication_imports.import_communications(rt.db, actor_id=actor_id, **options)
    finally:
        await rt.db.dispose()
    print(file=sys.stderr)
    print(f"{args.file.name}: {report.summary()}")
    print("\n".join(report.lines_text()))
    if report.ignored_columns:
        print(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.refused_lines and isinstance(report, client_imports.ClientImportReport):
        out = args.report or args.file.with_name(f"{args.file.stem}.refused.csv")
        client_imports.write_refused(out, report)
        print(f"refused lines written to {out}")
    return 1 if report.refused_lines else 0


async def _report(settings: Settings, code: str, period: str | None, vs: str | None) -> tuple[str, bytes]:
    """The dashboard PDF, or with a period the performance report of that period against `vs`."""
    from bot import render
    from bot.services import clients, dashboard, feedback

    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        operator = await _operator(rt)
        today = clock.today(settings.tz)
        async with rt.db.session() as session:
            actor = await users.get(session, operator)
            client = await clients.find(session, code)
            if period or vs:
                report = await feedback.report(
                    session, actor=actor, client_id=client.id, period=period, vs=vs, today=today
                )
                return client.name, await render.build_performance_pdf(report, rt.storage)
            board = await dashboard.build(session, actor=actor, client=client, today=today)
        return client.name, await render.build_dashboard_pdf(board, rt.storage)
    finally:
        await rt.db.dispose()


async def _jobs(settings: Settings, action: str, name: str | None) -> int:
    from bot.scheduler import JOBS, build_scheduler, run_job

    rt = Runtime.from_settings(settings)
    try:
        if action == "list":
            scheduler = build_scheduler(rt)
            scheduler.start(paused=True)
            for job in scheduler.get_jobs():
                print(f"{job.id:<28} next {job.next_run_time:%Y-%m-%d %H:%M %Z}  {job.name}")
            scheduler.shutdown(wait=False)
            return 0
        if name not in JOBS:
            print(f"error: unknown job {name!r}; known: {', '.join(JOBS)}", file=sys.stderr)
            return 2
        await migrate(rt.db)
        print(f"{name}: {await run_job(rt, name, since_install=False)}")
        return 0
    finally:
        await rt.db.dispose()


async def _harden(settings: Settings, app_role: str, owner: str | None) -> list[str]:
    from bot.hardening import harden

    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        return await harden(rt.db, app_role=app_role, owner=owner)
    finally:
        await rt.db.dispose()


async def _privacy(settings: Settings, args: argparse.Namespace) -> dict:
    """A personal-data export or erasure, as the HR Admin named by --by (else the command line's
    operator account)."""
    from bot.services import privacy

    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        operator = await _operator(rt)
        async with rt.db.session() as session:
            actor = (
                await users.by_slack_id(session, args.by) if args.by else await users.get(session, operator)
            )
            if actor is None:
                raise DomainError(f"No user {args.by!r} is known to clientbot.")
            by = args.by or "command line"
            if args.action == "export":
                return await privacy.export(session, actor=actor, email=args.email, by=by)
            return await privacy.erase(session, actor=actor, email=args.email, reason=args.reason, by=by)
    finally:
        await rt.db.dispose()


async def _demo(settings: Settings) -> list[str]:
    from bot.demo import build

    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
        return await build(rt.db, today=clock.today(settings.tz))
    finally:
        await rt.db.dispose()


async def _storage_migrate(settings: Settings, target_url: str) -> int:
    """Copy every stored file from CLIENTBOT_STORAGE_URL (or _DIR) to `target_url`, each one's SHA-256
    checked against its key when read and again read back from the target."""
    from bot.filestore import StorageError, open_storage
    from bot.filestore import migrate as copy_files

    source = open_storage(settings.storage_url or settings.storage_dir)
    target = open_storage(target_url)
    try:
        result = await copy_files(source, target)
    except StorageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await source.close()
        await target.close()
    print(
        f"{source.url} -> {target.url}: {result.copied} copied ({result.bytes} bytes), "
        f"{result.skipped} already there; every file verified by its SHA-256"
    )
    print(f"now set CLIENTBOT_STORAGE_URL={target_url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clientbot", description="Client management for recruitment teams.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="migrate, then serve Slack, /api and /healthz")
    serve_parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes (gunicorn's aiohttp worker) sharing the database; 1 serves in this process "
        "(default: the CPU count; Socket Mode always uses 1)",
    )
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    commands.add_parser("demo", help="fill the database with a demo agency (offline, idempotent)")
    token = commands.add_parser("api-token", help="REST API tokens").add_subparsers(
        dest="action", required=True
    )
    create = token.add_parser("create", help="print a new token once (stored hashed)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", metavar="DURATION", help="e.g. 90d, 12w, 36h (default: never)")
    expiry.add_argument(
        "--expires", metavar="YYYY-MM-DD", help="the day it stops working (CLIENTBOT_TIMEZONE)"
    )
    token.add_parser("list", help="every token: id, name, role, created, last used, expiry (never the token)")
    revoke = token.add_parser("revoke", help="revoke a token now (its next request gets 401 token_revoked)")
    revoke.add_argument("token", metavar="ID|NAME", help="the id prefix from `api-token list`, or the name")
    load = commands.add_parser(
        "import", help="bulk-load clients (with contacts), communications, jobs or applications from CSV"
    )
    load.add_argument("kind", choices=sorted([*imports.IMPORTERS, *ONBOARDING]))
    load.add_argument("file", type=Path)
    load.add_argument("--dry-run", action="store_true", help="clients/communications: check, write nothing")
    load.add_argument("--update", action="store_true", help="clients: update duplicates instead of skipping")
    load.add_argument(
        "--map", action="append", default=[], metavar="'Column=field'", help="read a column as a field"
    )
    load.add_argument("--report", type=Path, help="clients: where to write the refused lines (CSV)")
    report = commands.add_parser("report", help="a client's report as PDF")
    report.add_argument("code", help="client code or name")
    report.add_argument("--out", type=Path, required=True)
    report.add_argument(
        "--period", help="performance report for this quarter (YYYY-Qn) instead of the dashboard"
    )
    report.add_argument("--vs", help="compare with this quarter (default: the one before)")
    jobs = commands.add_parser("jobs", help="scheduled jobs").add_subparsers(dest="action", required=True)
    jobs.add_parser("list", help="each job and its next run")
    run = jobs.add_parser("run", help="run one job now")
    run.add_argument("name")
    database = commands.add_parser("db", help="database administration").add_subparsers(
        dest="action", required=True
    )
    harden = database.add_parser(
        "harden", help="PostgreSQL: the app's role gets data rights only; another role owns the tables"
    )
    harden.add_argument("--app-role", required=True, help="the role clientbot serve connects as")
    harden.add_argument("--owner", help="the role that will own the schema (default: the connecting role)")
    gdpr = commands.add_parser("privacy", help="personal-data requests (GDPR) about a contact or candidate")
    gdpr_actions = gdpr.add_subparsers(dest="action", required=True)
    export = gdpr_actions.add_parser("export", help="everything held about the person, as JSON")
    erase = gdpr_actions.add_parser("erase", help="redact the person's name, email and phone everywhere")
    for sub in (export, erase):
        sub.add_argument("email")
        sub.add_argument("--by", metavar="SLACK_ID", help="the HR Admin handling the request (audited)")
    export.add_argument("--out", type=Path, help="write the JSON there instead of to stdout")
    erase.add_argument("--reason", required=True, help="why (e.g. the request's reference); audited")
    storage = commands.add_parser("storage", help="logos and attachments").add_subparsers(
        dest="action", required=True
    )
    copy = storage.add_parser("migrate", help="copy every stored file to another store, verifying hashes")
    copy.add_argument("--to", required=True, metavar="URL", help="file:///path or s3://bucket/prefix")
    args = parser.parse_args(argv)
    from bot.telemetry import configure_logging

    configure_logging(get_settings().log_format)
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _run(args, get_settings())
    except DomainError as error:  # a client or period not found, a file too large, …
        print(f"error: {error.detail}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print(f"database is at the latest schema ({settings.database_url.split('@')[-1]})")
        return 0
    if args.command == "demo":
        made = asyncio.run(_demo(settings))
        print("\n".join(made) if made else "the demo agency is already there; nothing to add")
        return 0
    if args.command == "api-token" and args.action == "list":
        print("\n".join(asyncio.run(_list_tokens(settings))))
        return 0
    if args.command == "api-token" and args.action == "revoke":
        print(asyncio.run(_revoke_token(settings, args.token)))
        return 0
    if args.command == "api-token":
        token, expires_at = asyncio.run(
            _create_token(settings, Role(args.role), args.name, args.expires_in, args.expires)
        )
        print(token)
        if expires_at is not None:  # on stderr: scripts read the token alone from stdout
            print(f"expires {_when(expires_at, settings)} ({settings.tz.key})", file=sys.stderr)
        return 0
    if args.command == "import":
        if not args.file.is_file():
            print(f"error: no such file {args.file}", file=sys.stderr)
            return 2
        if args.kind in ONBOARDING:
            return asyncio.run(_onboard(settings, args))
        return asyncio.run(_import(settings, args.kind, args.file))
    if args.command == "report":
        from bot import render

        render.draw_here()
        name, pdf = asyncio.run(_report(settings, args.code, args.period, args.vs))
        args.out.write_bytes(pdf)
        print(f"wrote {args.out} for {name} ({len(pdf) // 1024} KB)")
        return 0
    if args.command == "db":
        print("\n".join(asyncio.run(_harden(settings, args.app_role, args.owner))))
        return 0
    if args.command == "privacy":
        result = json.dumps(asyncio.run(_privacy(settings, args)), indent=2, ensure_ascii=False)
        if getattr(args, "out", None):
            args.out.write_text(result + "\n", encoding="utf-8")
            print(f"wrote {args.out}")
        else:
            print(result)
        return 0
    if args.command == "storage":
        return asyncio.run(_storage_migrate(settings, args.to))
    if args.command == "jobs":
        return asyncio.run(_jobs(settings, args.action, getattr(args, "name", None)))
    if args.command == "serve":
        if missing := missing_credentials(settings):
            print(f"error: missing {', '.join(missing)}\n\n{SETUP_HELP}", file=sys.stderr)
            return 2
        if args.workers > 1 and not settings.slack_app_token:
            serve_workers(settings, args.workers)
        else:
            asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
