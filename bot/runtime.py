"""What every entry point shares: settings, the database and file storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from bot.config import Settings
from bot.db import Database
from bot.filestore import Storage, open_storage
from bot.lifecycle import Lifecycle

if TYPE_CHECKING:
    from bot.services.users import Organisation


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    # The Slack organisation the bot token belongs to (auth.test), learnt on first use by handlers.common.
    slack_installation: Organisation | None = None
    # One keep-alive HTTP session for every Slack Web API and response_url call, opened and closed with
    # the web app (bot.app); None outside it (CLI, tests without the app): each client makes its own.
    http: aiohttp.ClientSession | None = None
    # Draining on SIGTERM: what is in flight, and whether new work is refused (bot.lifecycle).
    lifecycle: Lifecycle = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        from views.common import configure_money  # the currency every surface shows money in

        configure_money(self.settings.currency)
        if self.lifecycle is None:
            self.lifecycle = Lifecycle(self.settings.shutdown_grace)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        storage = open_storage(settings.storage_url or settings.storage_dir)
        return cls(settings=settings, db=Database(settings.database_url), storage=storage)
