"""Who may do what. Services call `require` before every write."""

from __future__ import annotations

from bot.errors import PermissionDenied
from bot.models import Role, User

ROLE_TITLES = {Role.ADMIN: "HR Admin", Role.MANAGER: "HR Manager", Role.RECRUITER: "Recruiter"}


def has_role(user: User, needed: Role) -> bool:
    return user.role_enum.rank >= needed.rank


def require(user: User, needed: Role, action: str) -> None:
    """Raise PermissionDenied naming the role needed, e.g. "Only an HR Admin can deactivate clients"."""
    if not has_role(user, needed):
        article = "an" if ROLE_TITLES[needed][0] in "AEIOUH" else "a"
        raise PermissionDenied(
            f"Only {article} {ROLE_TITLES[needed]} (or above) can {action}. "
            f"Your role is {ROLE_TITLES[user.role_enum]}."
        )
