"""The one thread policy for a listener's database work: `DatabaseThreads`.

Both listeners hand every unit of database work (an HL7 message applied, a C-FIND run, a bookkeeping write)
to a few long-lived threads, because a Django connection belongs to its thread: working from the asyncio loop
or from pynetdicom's per-association thread would open a connection per message or per association.

The policy, in three parts:

- **Last idle first.** ThreadPoolExecutor hands jobs to its idle threads in turn, so one busy sender would go
  through every thread's connection in rotation, each one cold (SQLite drops a connection's page cache when
  another connection wrote; each PostgreSQL backend keeps its own caches; about 0.5 ms of CPU per message on
  the 2-core machine). Here the thread that just finished takes the next job; others start only when jobs
  overlap, up to `max_threads`.
- **Connection hygiene per unit,** as `close_old_connections()` does per web request: a connection left in a
  transaction or broken by an error is dropped, one past `CONN_MAX_AGE` is replaced. `CONN_MAX_AGE=0` (the
  SQLite default, meant for web requests) is read as "no age limit" for these threads: reconnecting per
  message costs more than applying one.
- **Checked after, not before.** With `CONN_HEALTH_CHECKS` Django pings (SELECT 1) before the first query
  after each check-up: one more round trip on the sender's time. So the ping is done right after a unit, once
  the caller has its result and this thread is back in line; a unit starting within
  CHECKED_RECENTLY_SECONDS of that ping goes straight to work, after a longer pause the connection is
  checked first as before. A steady sender's units carry one check for half that time (one ping per
  half second, not one per message).
"""
import logging
import threading
import time
from collections import deque
from concurrent.futures import Executor, Future

from django.db import DEFAULT_DB_ALIAS, connections

log = logging.getLogger(__name__)

# A unit starting this soon after the previous unit's check reuses that check.
CHECKED_RECENTLY_SECONDS = 1.0
_checked = threading.local()


class _Worker:
    __slots__ = ("wake", "job")

    def __init__(self, job):
        self.wake = threading.Event()
        self.job = job


class LastIdleFirstExecutor(Executor):
    """A bounded pool whose most recently idle thread takes the next job (see the module docstring)."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "worker"):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the last thread to become idle is woken first
        self._backlog: deque = deque()  # jobs waiting while every thread is busy
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        job = (future, fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new jobs after shutdown")
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.set()
            elif len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._run, args=(_Worker(job),), daemon=True,
                                          name=f"{self._prefix}_{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(job)
        return future

    @property
    def thread_names(self) -> list[str]:
        """The threads started so far (a steady sender keeps to the first one)."""
        with self._lock:
            return [thread.name for thread in self._threads]

    def _before_job(self) -> None:
        """Runs in the worker thread before each job (a hook for subclasses)."""

    def _after_job(self) -> None:
        """Runs in the worker thread after each job, once its result is out and the thread is back in line."""

    def _run(self, worker: _Worker) -> None:
        while True:
            future, fn, args, kwargs = worker.job
            worker.job = None
            outcome, failed = None, False
            if future.set_running_or_notify_cancel():
                try:
                    self._before_job()
                    outcome = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                    outcome, failed = exc, True
            # Back in line before the result is out: the sender's next message, submitted as soon as the
            # result is seen, must find this thread idle rather than wake another one.
            with self._lock:
                if self._backlog:
                    worker.job = self._backlog.popleft()
                elif not self._shutdown:
                    worker.wake.clear()
                    self._idle.append(worker)
                stopping = self._shutdown and worker.job is None
            if future.running():
                (future.set_exception if failed else future.set_result)(outcome)
            del future, fn, args, kwargs, outcome
            try:
                self._after_job()  # a job handed to this thread meanwhile waits for it: still the warm thread
            except Exception:  # the thread must live on: it may already be in line for the next job
                log.exception("database thread %s: the check-up after a unit failed", threading.current_thread().name)
            if worker.job is not None:
                continue
            if stopping:
                return
            worker.wake.wait()
            if worker.job is None:  # woken by shutdown
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; jobs already submitted still run (unless cancel_futures); wait for the threads."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._backlog:
                    self._backlog.popleft()[0].cancel()
            idle, self._idle = self._idle, []
            threads = list(self._threads)
        for worker in idle:
            worker.wake.set()
        if wait:
            for thread in threads:
                thread.join()


class DatabaseThreads(LastIdleFirstExecutor):
    """The listeners' database executor: last idle first, each unit with its connection check-up.

    An `Executor`, so `loop.run_in_executor(threads, fn, ...)` works; `run()` waits for the result.
    `shutdown()` closes every thread's connection once the threads have stopped."""

    def __init__(self, max_threads: int, name: str):
        super().__init__(max_threads, thread_name_prefix=name)
        self._connections = []  # each thread's Django connection, closed at shutdown

    def run(self, fn, /, *args, **kwargs):
        """Run `fn` in a database thread and wait for its result (exceptions propagate)."""
        return self.submit(fn, *args, **kwargs).result()

    def _before_job(self) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        with self._lock:
            if connection not in self._connections:
                connection.inc_thread_sharing()  # closed from the thread that calls shutdown()
                self._connections.append(connection)
        checked_at = getattr(_checked, "at", None)
        if checked_at is None or time.monotonic() - checked_at > CHECKED_RECENTLY_SECONDS:
            tidy_connection()

    def _after_job(self) -> None:
        try:
            tidy_connection()
        finally:
            _check_now()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if not wait:
            return
        with self._lock:
            opened, self._connections = self._connections, []
        for connection in opened:
            connection.close()
            connection.dec_thread_sharing()


def tidy_connection() -> None:
    """close_old_connections() for this thread's connection, with CONN_MAX_AGE=0 read as no age limit."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.connection is None:
        return
    if connection.settings_dict.get("CONN_MAX_AGE") == 0:
        connection.close_at = None
    connection.close_if_unusable_or_obsolete()


def _check_now() -> None:
    """The health check (SELECT 1) right after a unit, while nobody waits; remembered for the next unit."""
    connection = connections[DEFAULT_DB_ALIAS]
    checked_at = getattr(_checked, "at", None)
    if (connection.connection is not None and checked_at is not None
            and time.monotonic() - checked_at < CHECKED_RECENTLY_SECONDS / 2):
        # A steady sender: the check of a moment ago still holds (one ping per half period, not per unit).
        connection.health_check_done = True
        return
    try:
        connection.close_if_health_check_failed()  # no-op without health checks or without a connection
    except Exception:
        _checked.at = None
        return
    _checked.at = time.monotonic() if connection.connection is not None else None
