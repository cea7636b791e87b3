"""What every entry point shares: settings, the database and file storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from bot.config import Settings
from bot.db import Database
from bot.storage import LocalStorage

if TYPE_CHECKING:
    from bot.services.users import Organisation


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: LocalStorage
    # The Slack organisation the bot token belongs to (auth.test), learnt on first use by handlers.common.
    slack_installation: Organisation | None = None
    # One keep-alive HTTP session for every Slack Web API and response_url call, opened and closed with
    # the web app (bot.app); None outside it (CLI, tests without the app): each client makes its own.
    http: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings, db=Database(settings.database_url), storage=LocalStorage(settings.storage_dir)
        )
