"""The app's one source of "now".

Nothing else in the app reads the wall clock: services, handlers, the API, the scheduler, the CLI and the
reports all ask here. Tests move this clock (time-machine) and never depend on the machine's date, year,
weekday or time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def local_now(tz: tzinfo) -> datetime:
    """The current instant in `tz` (the agency's CLIENTBOT_TIMEZONE or a user's zone)."""
    return now().astimezone(tz)


def today(tz: tzinfo) -> date:
    """The calendar day it is now in `tz`."""
    return local_now(tz).date()
