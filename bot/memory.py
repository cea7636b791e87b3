"""A serving process's memory: what start-up made is frozen out of the collector's sight, and the C heap
gives what it freed back to the system (issue 14: acks stalled by full collections; RSS creeping up over a
soak with the number of live Python objects flat)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

log = logging.getLogger(__name__)

TRIM_EVERY = 30.0  # seconds between two returns of the C heap's free pages to the system


def settle_heap() -> int:
    """Once the process is ready to serve: collect what start-up left behind, then move every object that
    is left (modules, classes, SQLAlchemy's mappers, Bolt's listeners: ~150k objects, all alive until exit)
    out of the garbage collector's sight (`gc.freeze`). A full collection then walks only what was made
    since: on SQLite at 16 users it took 90-170 ms each time, stalling every ack on the event loop
    meanwhile, and now takes 10-30 ms. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def settle_heap_on_startup(_web_app: web.Application) -> None:
    """aiohttp's on_startup, last of them: what a gunicorn worker runs before it takes requests."""
    log.info("start-up heap frozen: %d objects", settle_heap())


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim from the running process's own symbols, or None (musl, macOS, Windows: no such
    call)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):
        return None


_TRIM = _malloc_trim()


def release_free_heap() -> bool:
    """Give the C heap's free pages back to the system. glibc keeps what Python frees (reply bodies, SQL
    text, driver buffers: anything over pymalloc's 512 bytes) inside its heap, and a heap fragmented by a
    mix of sizes only ever grows: +1 MB per 30 s at 16 users with a flat count of Python objects. True
    when something was released."""
    return bool(_TRIM(0)) if _TRIM is not None else False


async def heap_upkeep(_web_app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: while the app serves, `release_free_heap` every TRIM_EVERY seconds, off the
    event loop (it takes 0.2-8 ms)."""

    async def every() -> None:
        while True:
            await asyncio.sleep(TRIM_EVERY)
            await asyncio.to_thread(release_free_heap)

    task = asyncio.create_task(every()) if _TRIM is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
