"""`clientbot` command line: serve, migrate, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Settings, get_settings
from bot.db import migrate
from bot.runtime import Runtime

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

    from bot.app import create_bolt_app, create_web_app

    rt = Runtime.from_settings(settings)
    await migrate(rt.db)
    bolt = create_bolt_app(rt)
    socket_mode = bool(settings.slack_app_token)
    runner = web.AppRunner(create_web_app(rt, None if socket_mode else bolt))
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", settings.port).start()
    logging.info("clientbot listening on :%s (%s)", settings.port, "Socket Mode" if socket_mode else "HTTP")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(bolt, settings.slack_app_token)
        await socket_handler.connect_async()
    try:
        await stop.wait()
    finally:
        if socket_handler:
            await socket_handler.close_async()
        await runner.cleanup()


async def _migrate(settings: Settings) -> None:
    rt = Runtime.from_settings(settings)
    try:
        await migrate(rt.db)
    finally:
        await rt.db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clientbot", description="Client management for recruitment teams.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="migrate, then serve Slack, /api and /healthz")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = get_settings()
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print(f"database is at the latest schema ({settings.database_url.split('@')[-1]})")
        return 0
    if args.command == "serve":
        if missing := missing_credentials(settings):
            print(f"error: missing {', '.join(missing)}\n\n{SETUP_HELP}", file=sys.stderr)
            return 2
        asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
