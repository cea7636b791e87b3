"""`clientbot serve --workers N`: the scheduler runs in one worker at a time (bot/workers.py)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from bot import workers
from bot.memory import settle_heap_on_startup


async def test_one_worker_at_a_time_runs_the_scheduler(rt, tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(workers, "SCHEDULER_RETRY", 0.05)
    lock = tmp_path / "scheduler.lock"
    caplog.set_level(logging.INFO, logger="clientbot.workers")

    def elected() -> int:
        return sum("runs the scheduler" in r.getMessage() for r in caplog.records)

    first, second = workers.scheduler_when_elected(rt, lock), workers.scheduler_when_elected(rt, lock)
    await anext(first)
    await asyncio.sleep(0.2)
    await anext(second)
    await asyncio.sleep(0.3)  # the second worker tried several times
    assert elected() == 1
    with pytest.raises(StopAsyncIteration):
        await anext(first)  # the first worker exits: its lock goes with it
    await asyncio.sleep(0.3)
    assert elected() == 2  # the second took over
    with pytest.raises(StopAsyncIteration):
        await anext(second)


async def test_a_worker_freezes_its_start_up_heap_last_before_serving(settings) -> None:
    """Full collections walked every object start-up made (90-170 ms on the event loop each, issue 14): a
    worker moves them out of the collector's sight once its other start-ups (the render pool) ran."""
    web_app = workers.worker_app(settings)
    assert web_app.on_startup[-1] is settle_heap_on_startup
    try:
        await settle_heap_on_startup(web_app)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
