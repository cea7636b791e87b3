"""CPU-heavy rendering (matplotlib charts, reportlab PDFs: bot/reports.py) in a small spawn-started process
pool, so building an export never holds the event loop's GIL while other users' commands wait. The server
process never imports matplotlib or reportlab: the workers import bot.reports on their first task."""

from __future__ import annotations

import asyncio
import importlib
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

WORKERS = max(1, min(2, os.cpu_count() or 1))
_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _call(name: str, currency: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """In a worker: bot.reports.`name`(*args, **kwargs), money shown in the server's currency."""
    from views.common import configure_money

    configure_money(currency)
    return getattr(importlib.import_module("bot.reports"), name)(*args, **kwargs)


def _warm() -> None:
    importlib.import_module("bot.reports")


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
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


def start() -> None:
    """Start the workers and have them import bot.reports now rather than on the first export (blocking:
    run it in a thread)."""
    pool = _executor()
    for future in [pool.submit(_warm) for _ in range(WORKERS)]:
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
