"""What every entry point shares: settings, the database and file storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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

    def __post_init__(self) -> None:
        from views.common import configure_money  # the currency every surface shows money in

        configure_money(self.settings.currency)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings, db=Database(settings.database_url), storage=LocalStorage(settings.storage_dir)
        )
