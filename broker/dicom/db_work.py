"""A few long-lived threads that do the listener's database work.

pynetdicom runs every association in a new thread, and a Django connection belongs to its thread:
querying from the association thread would open (and then close) a database connection per
association. These workers keep theirs (CONN_MAX_AGE), checked with close_old_connections()
around each unit of work.
"""
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.BROKER_DICOM_DB_THREADS, thread_name_prefix="dicom-db")
    return _executor


def _unit(fn, args, kwargs):
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


def run(fn, *args, **kwargs):
    """Run `fn` in a database worker and wait for its result (exceptions propagate)."""
    return _pool().submit(_unit, fn, args, kwargs).result()


def submit(fn, *args, **kwargs) -> Future:
    """Run `fn` in a database worker without waiting (bookkeeping writes such as the query log)."""
    return _pool().submit(_unit, fn, args, kwargs)


def shutdown() -> None:
    """Close every worker's database connection and stop the workers (listener shutdown, tests)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    from django.db import connections

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
