"""Who may do what. Services call `require` before every write."""

from __future__ import annotations

from bot.errors import PermissionDenied
from bot.models import Role, User

ROLE_TITLES = {Role.ADMIN: "HR Admin", Role.MANAGER: "HR Manager", Role.RECRUITER: "Recruiter"}


def has_role(user: User, needed: Role) -> bool:
    """Slack guests and deactivated users have no more than a recruiter's rights, whatever role they had."""
    if (user.is_guest or user.is_deleted) and needed.rank > Role.RECRUITER.rank:
        return False
    return user.role_enum.rank >= needed.rank


def require(user: User, needed: Role, action: str) -> None:
    """Raise PermissionDenied naming the role needed, e.g. "Only an HR Admin can deactivate clients"."""
    if user.is_guest and not has_role(user, needed):
        raise PermissionDenied(f"Slack guest accounts can't {action}.")
    if not has_role(user, needed):
        article = "an" if ROLE_TITLES[needed][0] in "AEIOUH" else "a"
        raise PermissionDenied(
            f"Only {article} {ROLE_TITLES[needed]} (or above) can {action}. "
            f"Your role is {ROLE_TITLES[user.role_enum]}.",
            needed=needed,
        )
