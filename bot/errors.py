"""Domain errors. Handlers and the API turn them into friendly Slack text or JSON error bodies."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected failure the user can act on; `str()` is safe to show."""

    code = "bad_request"
    http_status = 400

    @property
    def detail(self) -> str:
        """What to tell the user, in one line."""
        return str(self)


class PermissionDenied(DomainError):
    """`needed`: the role that may do it, when one may (the UI names who holds it)."""

    code = "forbidden"
    http_status = 403

    def __init__(self, message: str, *, needed: Any = None) -> None:
        super().__init__(message)
        self.needed = needed


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class UnknownClient(NotFound):
    """No client matches `query`; `suggestions` are close names or codes (plain values) to offer."""

    def __init__(self, message: str, *, query: str, suggestions: list[Any]) -> None:
        super().__init__(message)
        self.query, self.suggestions = query, suggestions


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class ValidationFailed(DomainError):
    """Field-level problems: `fields` maps a field name (e.g. `contacts.1.email`) to a message."""

    code = "validation_failed"
    http_status = 422

    def __init__(self, fields: dict[str, str], message: str = "Some fields need fixing.") -> None:
        super().__init__(message)
        self.fields = fields

    @property
    def detail(self) -> str:
        """The field messages themselves (the summary only when there are none)."""
        return " ".join(self.fields.values()) or str(self)


class Ambiguous(DomainError):
    """A name matched several records; `matches` lets the UI list them."""

    code = "ambiguous"
    http_status = 409

    def __init__(self, message: str, matches: list[Any], *, query: str | None = None) -> None:
        super().__init__(message)
        self.matches, self.query = matches, query


class DuplicateSuspected(Conflict):
    """Creating this record looks like a duplicate; the caller must confirm to go on."""

    code = "duplicate_suspected"

    def __init__(self, matches: list[Any]) -> None:
        super().__init__("This looks like a client that already exists.")
        self.matches = matches


class Redelivery(Exception):
    """A Slack request received before (a retry or a replay), recognised after its ack (bot.app.DeliveryAck):
    the listener stops there and the error handler says nothing."""
