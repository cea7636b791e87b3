"""Quarters as periods: `2026-Q3`."""

from __future__ import annotations

import re
from datetime import date

from bot.errors import ValidationFailed

PERIOD = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)


def parse_period(text: str, field: str = "period") -> str:
    match = PERIOD.match(text.strip())
    if not match:
        raise ValidationFailed({field: f"“{text}” is not a period: use YYYY-Qn, e.g. 2026-Q3."})
    return f"{match.group(1)}-Q{match.group(2)}"


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def previous(period: str, count: int = 1) -> str:
    year, quarter = int(period[:4]), int(period[-1])
    index = year * 4 + quarter - 1 - count
    return f"{index // 4}-Q{index % 4 + 1}"


def last_completed_quarter(today: date) -> str:
    """`2026-Q3` when today is in 2026-Q4; `2025-Q4` in 2026-Q1."""
    return previous(quarter_of(today))


def recent(today: date, count: int = 8) -> list[str]:
    """The last `count` completed quarters, newest first."""
    last = last_completed_quarter(today)
    return [previous(last, n) for n in range(count)]


def start_of(period: str) -> date:
    return date(int(period[:4]), 3 * (int(period[-1]) - 1) + 1, 1)


def sort_key(period: str) -> tuple[int, int]:
    return int(period[:4]), int(period[-1])
