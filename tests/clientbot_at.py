"""The `clientbot` command line in a process of its own, on the calling test's clock.

`cli_argv(*args)` and `cli_env()` build the call; the child travels to the instant the parent test is at
(time-machine does not cross process boundaries), so CLI tests depend on no wall clock either."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

CLOCK_VARIABLE = "CLIENTBOT_TEST_CLOCK"


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.clientbot_at", *args]


def cli_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) plus the current test instant, plus `extra`."""
    env = dict(os.environ if base is None else base)
    env.setdefault("PYTHONPATH", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return env | {CLOCK_VARIABLE: datetime.now(UTC).isoformat()} | extra


if __name__ == "__main__":
    import time_machine

    from bot.cli import main

    with time_machine.travel(datetime.fromisoformat(os.environ[CLOCK_VARIABLE]), tick=True):
        sys.exit(main(sys.argv[1:]))
