"""CPU-heavy pure work in worker processes: reading a message (MIME, PDF, XML).

The gateway's own process is one Python interpreter. Reading a letter with a 1 MB PDF costs
tens of milliseconds of pure-Python work (the email package, pypdf, xmlschema); in threads of
the same process that work takes turns with the event loop, the database and the IMAP
connection for the one interpreter lock, so more letters in flight did not go any faster.
Worker processes read on the other cores while the gateway keeps receiving, recording and
filing.

The pool is shared by everything in the process, started on first use (or by `warm`), one
pipe per worker. A task may carry a `Budget` (seconds, megabytes): a worker over it is killed
and replaced, and the caller gets `OverBudget`; the other workers keep serving. A worker that
dies by itself (a crashing parser) costs its caller `WorkerDied`, and is replaced too.
`[intake] read_processes = 0` reads in a thread of the gateway's own process instead: a thread
cannot be stopped, so there is no budget there (config/letters.py says so).

Why our own pool and not concurrent.futures.ProcessPoolExecutor: an executor cannot stop one
task; killing its worker breaks the whole executor and every task in flight with it.

Memory is watched from outside: the gateway reads each busy worker's resident size
(/proc/<pid>/statm) every MEMORY_CHECK_SECONDS and kills it past the budget. An address-space
limit alone (RLIMIT_AS) is not reliable here: a worker that has loaded pyHanko, cryptography and
lxml already maps a few hundred MB, an allocation refused by the limit is a MemoryError that
parsers may swallow (pypdf's text extraction catches what its content streams raise), and Rust
code (cryptography) aborts on it. It is still set, relative to the worker's size at the start
of the task and at twice the budget, as a backstop: a sudden allocation of gigabytes between
two looks fails in the worker instead of pushing the host into the OOM killer.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Literal, TypeVar

from gateway.logabout import now_about, within

log = logging.getLogger(__name__)

T = TypeVar("T")

PARENT_CHECK_SECONDS = 0.5
MEMORY_CHECK_SECONDS = 0.1
WAKE_CHECK_SECONDS = 1.0  # a waiter for a free worker looks again at least this often
NICENESS = 5  # how much lower a worker's priority is than the gateway's (auto_processes)
# Loaded by every worker before it takes its first task, so that a task's budget is spent on
# the task and not on importing pyHanko, pypdf and the XML schemas (about two seconds).
PRELOAD = ("gateway.inbound.read", "gateway.inbound.stamp", "gateway.inbound.filed_copy")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_pools: dict[int, Pool] = {}
_guard = threading.Lock()


class WorkerDied(Exception):
    """A worker process ended while working (killed, out of memory, a crashing parser)."""


@dataclass(frozen=True)
class Budget:
    """What one task may cost: wall-clock seconds and resident memory (MB) of its worker."""

    seconds: float
    memory_mb: int

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024


class OverBudget(Exception):
    """A task went over its budget; its worker was killed (and will be replaced)."""

    def __init__(self, budget: Budget, what: Literal["time", "memory"]) -> None:
        self.budget = budget
        self.what = what
        limit = f"{budget.seconds:g} s" if what == "time" else f"{budget.memory_mb} MB"
        super().__init__(f"over the {what} budget of {limit}")


def auto_processes(memory_mb: int = 1024) -> int:
    """One reader per core this process may use, at most four, and no more than half the
    machine's memory holds at `memory_mb` each (the most a reader may grow to reading a
    letter, `[intake] read_memory_mb`): a 2 GB office VM gets one reader, as many as it can
    feed without the OOM killer choosing among them.

    The readers run at a lower priority (`NICENESS`), so the gateway's own process (the SMTP
    listener, IMAP, the database) still gets a core the moment it needs one, and the readers
    take what it leaves. Keeping a whole core for it instead (one reader fewer) left that core
    half idle: the gateway's own work is about 30 ms of a letter's 70 ms of CPU. On two cores,
    draining a 2,000-letter mailbox, alternating runs: 18.5 and 18.6 letters/s with one reader,
    20.5 and 24.6 with two.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # a container's or taskset's cores, not the host's
    except (AttributeError, OSError):  # not on this platform
        cores = os.cpu_count() or 1
    by_memory = memory_bytes() // 2 // (max(1, memory_mb) * 1024 * 1024)
    return max(1, min(4, cores, by_memory))


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit when lower (a
    container, a systemd MemoryMax=)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * _PAGE
    except (AttributeError, ValueError, OSError):  # not on this platform: no limit from memory
        return 1 << 62
    try:
        with open("/proc/self/cgroup") as f:
            cgroups = f.read()
    except OSError:
        return total
    for limit_file in cgroup_limit_files(cgroups):
        with contextlib.suppress(OSError, ValueError):
            with open(limit_file) as f:
                limit = f.read().strip()
            total = min(total, int(limit)) if limit != "max" else total
    return total


def cgroup_limit_files(cgroups: str) -> list[str]:
    """The files that hold this process's memory limit, from /proc/self/cgroup's text:
    "0::/path" (cgroup v2), "4:memory:/path" (v1)."""
    files = []
    for line in cgroups.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            files.append(f"/sys/fs/cgroup{path.rstrip('/')}/memory.max")
        elif "memory" in controllers.split(","):
            files.append(f"/sys/fs/cgroup/memory{path.rstrip('/')}/memory.limit_in_bytes")
    return files


# -- in the worker --------------------------------------------------------------------------


def _start_worker(parent: int) -> None:
    # Ctrl+C reaches the whole process group: the gateway stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # lowering one's priority is always allowed
        os.nice(NICENESS)
    # A gateway killed outright (kill -9, a crash) cannot stop its workers, and they wait on
    # their end of the pipe, so they would wait for ever: they watch for it.
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()


# The gateway's log setup as a worker takes it over: the root logger's level, the formatter of
# each plain stderr handler on it (text or JSON, gateway/ops/logs.py; formatters pickle), and
# the levels set on named loggers (aiosmtpd's, fontTools').
LogSetup = tuple[int, list[logging.Formatter], dict[str, int]]


def _log_setup() -> LogSetup:
    """How the gateway writes its log now, for a worker to write its lines the same way.

    A spawned worker starts with no logging set up: what pypdf, pyHanko or the reader log
    there went out through logging's last resort, a bare message on stderr with no time,
    level or logger, and no JSON line among the JSON ones a collector parses."""
    root = logging.getLogger()
    formatters = [f for f in (h.formatter or logging.Formatter() for h in root.handlers
                              if type(h) is logging.StreamHandler) if _pickles(f)]
    named = list(logging.root.manager.loggerDict.items())  # one step: other threads add loggers
    levels = {name: lg.level for name, lg in named if isinstance(lg, logging.Logger) and lg.level != logging.NOTSET}
    return root.level, formatters, levels


def _pickles(formatter: logging.Formatter) -> bool:
    """Whether a formatter can cross to a worker (one an embedding program made may not: the
    worker then writes without it rather than not starting)."""
    try:
        pickle.dumps(formatter)
    except Exception:  # noqa: BLE001 - whatever pickling raises
        return False
    return True


def _log_like_the_gateway(setup: LogSetup) -> None:
    level, formatters, levels = setup
    root = logging.getLogger()
    for formatter in formatters:
        handler = logging.StreamHandler()  # the worker's stderr is the gateway's
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if formatters:
        root.setLevel(level)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - then it is imported by the first task
            log.warning("worker could not preload %s: %r", name, exc)
    with contextlib.suppress(Exception):
        from gateway.xmlletter import default_resources

        default_resources()


def _address_limit(extra: int) -> None:
    """RLIMIT_AS at the worker's current size plus `extra` bytes (0: no limit)."""
    try:
        import resource
    except ImportError:  # not on this platform: the resident-size watch is enough
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    with contextlib.suppress(ValueError, OSError):
        soft = _vm_size() + extra if extra > 0 else resource.RLIM_INFINITY
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _vm_size() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * _PAGE


def _serve(conn: Connection, parent: int, log_setup: LogSetup) -> None:
    """A worker's life: load, say it is ready, then run one task at a time from the pipe."""
    _log_like_the_gateway(log_setup)
    _start_worker(parent)
    _preload()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            fn, args, kwargs, memory, about = conn.recv()
        except (EOFError, OSError):
            return
        if memory:
            _address_limit(2 * memory)
        try:
            with within(about):  # its log lines name the letter the gateway gave it for
                result: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - it crosses to the gateway
            result = (False, exc)
        finally:
            if memory:
                _address_limit(0)
        try:
            conn.send(result)
        except Exception as exc:  # noqa: BLE001 - a result or error that does not pickle
            conn.send((False, RuntimeError(f"{getattr(fn, '__name__', fn)}: {exc!r}")))


# -- in the gateway -------------------------------------------------------------------------


class _Worker:
    def __init__(self, parent: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # not fork: the gateway has threads
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(target=_serve, args=(child, parent, _log_setup()),
                                                daemon=True, name="saraban-reader")
        self.process.start()
        child.close()
        self.ready = False

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.process.pid}/statm") as f:
                return int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()


async def _readable(conn: Connection, timeout: float | None) -> bool:
    """Wait until the pipe has something (a result, or end of file when the worker died)."""
    if conn.poll():
        return True
    loop = asyncio.get_running_loop()
    got = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, _wake, got)
    try:
        await asyncio.wait_for(got, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


class Pool:
    """`size` worker processes, started when first needed; each runs one task at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._count = 0  # started and not yet dead
        self._waiters: list[asyncio.Future[None]] = []
        self._parent = os.getpid()

    def start(self) -> None:
        """Start every worker not started yet; they load in the background."""
        with self._lock:
            missing = self.size - self._count
            self._count += missing
        for _ in range(missing):
            self._put_back(self._new())

    def _new(self) -> _Worker | None:
        try:
            return _Worker(self._parent)
        except Exception as exc:  # noqa: BLE001 - tried again at the next task
            log.warning("a worker process did not start: %r", exc)
            return None

    async def _take(self) -> _Worker:
        while True:
            new = False
            with self._lock:
                worker = self._idle.pop() if self._idle else None
                if worker is None and self._count < self.size:
                    self._count += 1
                    new = True
                waiter: asyncio.Future[None] | None = None
                if worker is None and not new:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
            if worker is not None:
                return worker
            if new:
                started = self._new()
                if started is None:
                    self._put_back(None)
                    raise WorkerDied("a worker process could not be started")
                return started
            assert waiter is not None
            try:  # woken when a worker is put back; looks again now and then in any case
                await asyncio.wait_for(asyncio.shield(waiter), WAKE_CHECK_SECONDS)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def _put_back(self, worker: _Worker | None) -> None:
        """A worker free again, or None for one that is gone (a new one starts when needed)."""
        with self._lock:
            if worker is not None:
                self._idle.append(worker)
            else:
                self._count -= 1
            waiters, self._waiters = self._waiters, []
        for w in waiters:  # each looks again; those that find none wait again
            with contextlib.suppress(RuntimeError):  # its loop is closed
                w.get_loop().call_soon_threadsafe(_wake, w)

    async def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any],
                  budget: Budget | None) -> T:
        worker = await self._take()
        keep = False
        try:
            ok, value = await self._call(worker, fn, args, kwargs, budget)
            if budget is not None and not ok and isinstance(value, MemoryError):
                raise OverBudget(budget, "memory")  # the address-space backstop
            # memory a worker took for a big letter is not given back: start afresh
            keep = budget is None or worker.rss() < budget.memory_bytes // 2
        finally:
            if not keep:
                worker.kill()
            self._put_back(worker if keep else None)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    async def _call(self, worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any], budget: Budget | None) -> tuple[bool, Any]:
        name = getattr(fn, "__name__", repr(fn))
        try:
            if not worker.ready:  # loading is not part of any task's budget
                await _readable(worker.conn, None)
                worker.conn.recv()
                worker.ready = True
            worker.conn.send((fn, args, kwargs, budget.memory_bytes if budget else 0, now_about()))
            if budget is None:
                await _readable(worker.conn, None)
            else:
                await self._watch(worker, budget, name)
            return worker.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError, BrokenPipeError) as exc:
            log.error("a worker process died running %s; a new one will start", name)
            raise WorkerDied(f"worker process died running {name}") from exc

    async def _watch(self, worker: _Worker, budget: Budget, name: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget.seconds
        while True:
            left = deadline - loop.time()
            if await _readable(worker.conn, max(0.0, min(MEMORY_CHECK_SECONDS, left))):
                return
            if worker.rss() > budget.memory_bytes:
                log.warning("%s went over %d MB in worker %s: killed", name, budget.memory_mb,
                            worker.process.pid)
                raise OverBudget(budget, "memory")
            if loop.time() >= deadline:
                log.warning("%s went over %g s in worker %s: killed", name, budget.seconds,
                            worker.process.pid)
                raise OverBudget(budget, "time")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _pool(processes: int) -> Pool:
    with _guard:
        pool = _pools.get(processes)
        if pool is None:
            pool = _pools[processes] = Pool(processes)
        return pool


async def run(processes: int, fn: Callable[..., T], /, *args: Any, budget: Budget | None = None,
              **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a worker process (`processes` > 0) or a thread (0).

    `fn`, its arguments and its result must pickle: module-level functions and plain data.
    With a `budget` (worker processes only), a task over it raises OverBudget; a worker that
    dies raises WorkerDied. Either way the worker is replaced.
    """
    if processes <= 0:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return await _pool(processes).run(fn, args, kwargs, budget)


def warm(processes: int) -> None:
    """Start the pool's workers without waiting for them (each loads the gateway's modules)."""
    if processes > 0:
        _pool(processes).start()
