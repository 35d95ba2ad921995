"""The DICOM listener's database threads: the one policy of broker.core.db_threads, BROKER_DICOM_DB_THREADS wide.

pynetdicom runs every association in a new thread, and a Django connection belongs to its thread: querying
from the association thread would open (and then close) a database connection per association.
"""
from concurrent.futures import Future

from django.conf import settings

from broker.core.db_threads import DatabaseThreads

_threads: DatabaseThreads | None = None


def threads() -> DatabaseThreads:
    global _threads
    if _threads is None:
        _threads = DatabaseThreads(settings.BROKER_DICOM_DB_THREADS, name="dicom-db")
    return _threads


def run(fn, *args, **kwargs):
    """Run `fn` in a database thread and wait for its result (exceptions propagate)."""
    return threads().run(fn, *args, **kwargs)


def submit(fn, *args, **kwargs) -> Future:
    """Run `fn` in a database thread without waiting (bookkeeping writes such as the query log)."""
    return threads().submit(fn, *args, **kwargs)


def shutdown() -> None:
    """Stop the threads and close their database connections (listener shutdown, tests)."""
    global _threads
    stopping, _threads = _threads, None
    if stopping is not None:
        stopping.shutdown(wait=True)
