"""What every entry point shares: settings, the database and file storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.db import Database
from bot.filestore import Storage, open_storage

if TYPE_CHECKING:
    from bot.services.users import Organisation


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    # The Slack organisation the bot token belongs to (auth.test), learnt on first use by handlers.common.
    slack_installation: Organisation | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        storage = open_storage(settings.storage_url or settings.storage_dir)
        return cls(settings=settings, db=Database(settings.database_url), storage=storage)
