"""CPU-heavy pure work in worker processes: reading a message (MIME, PDF, XML).

The gateway's own process is one Python interpreter. Reading a letter with a 1 MB PDF costs
tens of milliseconds of pure-Python work (the email package, pypdf, xmlschema); in threads of
the same process that work takes turns with the event loop, the database and the IMAP
connection for the one interpreter lock, so more letters in flight did not go any faster.
Worker processes read on the other cores while the gateway keeps receiving, recording and
filing.

The pool is shared by everything in the process, started on first use, and replaced when a
worker dies (a hostile message that crashes a parser costs that letter one attempt, not the
gateway). `[intake] read_processes = 0` reads in a thread of the gateway's own process instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

PARENT_CHECK_SECONDS = 0.5
_pools: dict[int, ProcessPoolExecutor] = {}
_guard = threading.Lock()


class WorkerDied(Exception):
    """A worker process ended while working (killed, out of memory, a crashing parser)."""


def auto_processes() -> int:
    """One core stays with the gateway's own process; at most four readers."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _start_worker(parent: int) -> None:
    # Ctrl+C reaches the whole process group: the gateway stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A gateway killed outright (kill -9, a crash) cannot stop its workers, and they hold
    # their own ends of the task pipe, so they would wait for ever: they watch for it.
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _pool(processes: int) -> ProcessPoolExecutor:
    with _guard:
        pool = _pools.get(processes)
        if pool is None:
            # spawn, not fork: the gateway has threads (database, to_thread) whose locks a
            # forked child would inherit in whatever state they were.
            pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_start_worker, initargs=(os.getpid(),))
            _pools[processes] = pool
        return pool


def _drop(processes: int, pool: ProcessPoolExecutor) -> None:
    with _guard:
        if _pools.get(processes) is pool:
            del _pools[processes]
    pool.shutdown(wait=False, cancel_futures=True)


async def run(processes: int, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a worker process (`processes` > 0) or a thread (0).

    `fn`, its arguments and its result must pickle: module-level functions and plain data.
    """
    if processes <= 0:
        return await asyncio.to_thread(fn, *args, **kwargs)
    pool = _pool(processes)
    try:
        return await asyncio.get_running_loop().run_in_executor(
            pool, functools.partial(fn, *args, **kwargs))
    except BrokenProcessPool as exc:
        log.error("a worker process died; starting new ones")
        _drop(processes, pool)
        raise WorkerDied(f"worker process died running {getattr(fn, '__name__', fn)}") from exc


def warm(processes: int) -> None:
    """Start the pool's workers without waiting for them (each loads the gateway's modules)."""
    if processes > 0:
        try:
            pool = _pool(processes)
            for _ in range(processes):
                pool.submit(os.getpid)
        except (BrokenProcessPool, RuntimeError) as exc:  # started on first real use instead
            log.warning("worker processes did not start: %r", exc)
