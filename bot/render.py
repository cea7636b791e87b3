"""CPU-heavy rendering (matplotlib charts, reportlab PDFs: bot/reports.py) in a small spawn-started process
pool, so building an export never holds the event loop's GIL while other users' commands wait. The server
process never imports matplotlib or reportlab: each worker imports bot.reports and draws a throwaway chart
and PDF as it starts (fonts and caches loaded before the first export), and runs at the OS's idle priority
(SCHED_IDLE on Linux), so an export only takes CPU that other users' commands leave idle."""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from bot.filestore import StorageError
from bot.storage import LOGO_MAX_BYTES, bounded_logo
from views.common import current_currency

if TYPE_CHECKING:
    from bot.filestore import Storage
    from bot.services.dashboard import Dashboard
    from bot.services.feedback import PerformanceReport

log = logging.getLogger(__name__)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# One core is left to the web process (and the database): at most two workers, one fewer than the cores.
WORKERS = max(1, min(2, _cores() - 1))
NICE = 10  # added to the workers' niceness: under load the scheduler serves the web process first
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
_here = False  # `draw_here()`: no pool, this process draws


def _call(name: str, currency: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """In a worker: bot.reports.`name`(*args, **kwargs), money shown in the server's currency."""
    from views.common import configure_money

    configure_money(currency)
    return getattr(importlib.import_module("bot.reports"), name)(*args, **kwargs)


def _start_worker() -> None:
    """Each worker as it starts (a replacement too): lower priority, then warm up. Never raises: a failing
    initializer would break the whole pool, and a cold or normal-priority worker still renders."""
    try:
        os.nice(NICE)
        # Linux: run only on a core nothing else wants (a nice value still takes a share of a busy one)
        if hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        log.warning("render worker: could not lower its priority", exc_info=True)
    try:
        importlib.import_module("bot.reports").warm_up()
    except Exception:
        log.warning("render worker: warm-up failed", exc_info=True)


def _ready() -> None:
    """A task that only makes the pool start a worker (which warms up before it runs it)."""


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


async def report(name: str, *args: Any, **kwargs: Any) -> Any:
    """`bot.reports.<name>(*args, **kwargs)` in a worker process (arguments and result are pickled). A pool
    whose worker died (killed, out of memory) is replaced and the call made once more."""
    if _here:
        return await asyncio.to_thread(_call, name, current_currency(), args, kwargs)
    loop = asyncio.get_running_loop()
    for attempt in range(2):
        pool = _executor()
        try:
            return await loop.run_in_executor(pool, _call, name, current_currency(), args, kwargs)
        except BrokenProcessPool:
            _discard(pool)
            if attempt:
                raise
    raise AssertionError("unreachable")


def draw_here() -> None:
    """Draw in this process from now on: a one-shot command (`clientbot report`) serves no one else, and a
    worker would cost it a second interpreter's start and warm-up (~1.5 s of CPU)."""
    global _here
    _here = True


def start() -> None:
    """Start the workers now, warm, rather than on the first export (blocking: run it in a thread)."""
    pool = _executor()
    for future in [pool.submit(_ready) for _ in range(WORKERS)]:
        future.result()


async def logo(storage: Storage, key: str | None) -> bytes | None:
    """The client's logo, downscaled (in a worker thread); left out when it is missing, far larger than a
    logo may be, or an image bomb (stored before uploads were bounded), so a report never decodes an
    unbounded image."""
    if not key:
        return None
    try:
        content = await storage.get(key, max_bytes=4 * LOGO_MAX_BYTES)
    except (StorageError, ValueError):
        return None
    return await asyncio.to_thread(bounded_logo, content)


async def build_dashboard_pdf(dashboard: Dashboard, storage: Storage) -> bytes:
    """The whole dashboard export: the logo read here, chart and PDF drawn in a worker process."""
    return await report("dashboard_export", dashboard, await logo(storage, dashboard.client.logo_url))


async def build_performance_pdf(performance: PerformanceReport, storage: Storage) -> bytes:
    """The whole performance report: the logo read here, chart and PDF drawn in a worker process."""
    return await report("performance_export", performance, await logo(storage, performance.client.logo_url))
