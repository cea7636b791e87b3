"""What every entry point shares: settings, the database and file storage."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.db import Database
from bot.storage import LocalStorage


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: LocalStorage

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings, db=Database(settings.database_url), storage=LocalStorage(settings.storage_dir)
        )
