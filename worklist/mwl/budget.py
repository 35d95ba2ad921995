"""The per-query budget: no worklist query holds the database (and with it the listener) for long.

SQLite: the connection's progress handler interrupts the statement once the deadline has passed
(checked every few thousand virtual-machine instructions, so also inside a long scan).
PostgreSQL: `SET LOCAL statement_timeout` for the query's own transaction.
Either way the caller gets QueryTooExpensive, which the C-FIND handler answers with 0xC000.
"""
import time
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction

# SQLite VM instructions between two deadline checks (each check is a short Python call).
_PROGRESS_STEPS = 5000
_PG_QUERY_CANCELED = "57014"


class QueryTooExpensive(Exception):
    """The query ran past BROKER_MWL_QUERY_BUDGET_SECONDS and was stopped."""

    keyword = ""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.comment = f"Query over its {seconds:g} s budget; narrow date/station, no leading *"
        super().__init__(self.comment)


@contextmanager
def query_budget(seconds: float):
    """Run the body's queries on this thread's connection with a deadline of `seconds`."""
    if not seconds or seconds <= 0:
        yield
        return
    if connection.vendor == "sqlite":
        with _sqlite_budget(seconds):
            yield
    elif connection.vendor == "postgresql":
        with _postgresql_budget(seconds):
            yield
    else:
        yield


@contextmanager
def _sqlite_budget(seconds: float):
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
    try:
        yield
    except OperationalError as exc:
        if "interrupted" in str(exc) and time.monotonic() > deadline:
            raise QueryTooExpensive(seconds) from exc
        raise
    finally:
        raw.set_progress_handler(None, 0)


@contextmanager
def _postgresql_budget(seconds: float):
    nested = connection.in_atomic_block
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = %s", [max(1, int(seconds * 1000))])
            yield
            if nested:
                # Called inside an outer transaction: SET LOCAL would outlive this query.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _PG_QUERY_CANCELED:
            raise QueryTooExpensive(seconds) from exc
        raise
