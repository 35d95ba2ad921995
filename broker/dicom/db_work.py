"""A few long-lived threads that do the listener's database work.

pynetdicom runs every association in a new thread, and a Django connection belongs to its thread:
querying from the association thread would open (and then close) a database connection per
association. These workers keep theirs (CONN_MAX_AGE), checked with close_old_connections()
around each unit of work.
"""
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.BROKER_DICOM_DB_THREADS, thread_name_prefix="dicom-db")
    return _executor


# A unit starting this soon after the previous one's check reuses that check (see _unit).
CHECKED_RECENTLY_SECONDS = 1.0
_checked = threading.local()


def _unit(result: Future, fn, args, kwargs) -> None:
    """One unit of work between close_old_connections() calls.

    With CONN_HEALTH_CHECKS, Django pings the database (SELECT 1) before the first query after
    each close_old_connections(): one more round trip on the modality's time, every C-FIND. So the
    check is done right after each unit instead, once the caller has its `result`, while nobody
    waits; a unit that starts within CHECKED_RECENTLY_SECONDS of that check goes straight to work;
    after a longer pause the connection is checked first as before.
    """
    checked_at = getattr(_checked, "at", None)
    if checked_at is None or time.monotonic() - checked_at > CHECKED_RECENTLY_SECONDS:
        close_old_connections()
    try:
        result.set_result(fn(*args, **kwargs))
    except BaseException as exc:
        result.set_exception(exc)
    finally:
        close_old_connections()
        _check_now()


def _check_now() -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.close_if_health_check_failed()  # no-op without health checks or without a connection
    except Exception:
        _checked.at = None
        return
    _checked.at = time.monotonic() if connection.connection is not None else None


def run(fn, *args, **kwargs):
    """Run `fn` in a database worker and wait for its result (exceptions propagate)."""
    return submit(fn, *args, **kwargs).result()


def submit(fn, *args, **kwargs) -> Future:
    """Run `fn` in a database worker without waiting (bookkeeping writes such as the query log).

    The returned future is resolved as soon as `fn` returns, before the worker's connection check."""
    result = Future()
    _pool().submit(_unit, result, fn, args, kwargs)
    return result


def shutdown() -> None:
    """Close every worker's database connection and stop the workers (listener shutdown, tests)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return

    workers = len(executor._threads)
    if workers:
        # One close per worker: each waits at the barrier until all workers hold one.
        barrier = threading.Barrier(workers)

        def close_mine():
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [executor.submit(close_mine) for _ in range(workers)]:
            future.result()
    executor.shutdown(wait=True)
