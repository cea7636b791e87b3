"""A serving process's memory (bot/memory.py, issue 14)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from bot import memory

pytestmark = pytest.mark.skipif(memory._TRIM is None, reason="not glibc: no malloc_trim")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_freed_heap_goes_back_to_the_system() -> None:
    """What glibc keeps after Python freed it (blocks over pymalloc's 512 bytes, with a few survivors pinning
    the heap's top as a long-lived process has) is returned by `release_free_heap`."""
    blocks = [bytes(2048) + bytes([n % 256]) for n in range(40_000)]  # ~80 MB through malloc
    survivors = blocks[::200]
    del blocks
    held = _rss_mb()
    assert memory.release_free_heap()
    assert _rss_mb() < held - 40
    assert len(survivors) == 200


async def test_the_web_app_releases_the_heap_while_it_serves(monkeypatch) -> None:
    released = []
    monkeypatch.setattr(memory, "TRIM_EVERY", 0.01)
    monkeypatch.setattr(memory, "_TRIM", lambda pad: released.append(pad) or 1)
    upkeep = memory.heap_upkeep(web.Application())
    await anext(upkeep)
    await asyncio.sleep(0.2)
    assert released and set(released) == {0}
    with pytest.raises(StopAsyncIteration):
        await anext(upkeep)  # the app's cleanup: the task stops
    count = len(released)
    await asyncio.sleep(0.05)
    assert len(released) == count
