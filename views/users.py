"""Role changes."""

from __future__ import annotations

from typing import Any

from bot.models import User
from bot.roles import ROLE_TITLES
from views.common import message, section


def role_changed_message(user: User) -> dict[str, Any]:
    text = f":bust_in_silhouette: {user.mention} is now *{ROLE_TITLES[user.role_enum]}* (`{user.role}`)."
    return message(f"{user.display_name} is now {user.role}", [section(text)])
