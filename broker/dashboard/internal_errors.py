"""Counting the broker's own faults: every traceback its loggers write at ERROR becomes a count staff see.

A logging handler (in settings.LOGGING) hands each such record to a queue; one writer thread per process
adds it to the InternalError row of its process kind, logger and exception type. Nothing is written on the
request or association path, so a broken transaction or a database outage neither recurses (the writer's own
trouble is logged without a traceback, under a logger this handler does not count) nor blocks: counts that
cannot be written wait in memory and are written when the database is back.
"""
import logging
import os
import queue
import sys
import threading
from datetime import UTC, datetime

# Django's database and models are imported inside the functions that write: settings.LOGGING loads this module
# while the settings themselves load, before any app is ready.

# The broker's own loggers, which are also the `logger` label values of /metrics: a fixed set.
LOGGER_LABELS = ("broker.dicom", "broker.hl7", "broker.routing", "broker.outbound", "broker.dashboard", "broker",
                 "worklist", "mpps")
# The `process` label values.
PROCESS_KINDS = ("dicom", "hl7", "worker", "web", "supervisor")
# Distinct (process, logger, exception type) keys kept in memory while the database is away.
MAX_PENDING_KEYS = 1000
RETRY_SECONDS = 5.0

own_log = logging.getLogger("internal_errors")  # not one of LOGGER_LABELS: never counted, never recursing


def logger_label(name: str) -> str | None:
    """The /metrics label of a logger name: the most specific of LOGGER_LABELS it belongs to, or None."""
    for label in LOGGER_LABELS:  # most specific first
        if name == label or name.startswith(label + "."):
            return label
    return None


def process_kind(argv: list[str]) -> str | None:
    """The kind of broker process a command line starts, or None for commands that are not a broker process."""
    program = argv[0] if argv else ""  # `python -m celery` shows as .../celery/__main__.py
    command = argv[1:2]
    if "rundicom" in command:
        return "dicom"
    if "runhl7" in command:
        return "hl7"
    if "runbroker" in command:
        return "supervisor"
    if "celery" in program:
        return "worker"
    if "gunicorn" in program:
        return "web"
    return None


# Set at import from the command line; a test running a listener in process sets it itself.
PROCESS_KIND = process_kind(sys.argv)


class Recorder:
    """The queue and writer thread of one process (a forked child starts its own on first use)."""

    def __init__(self):
        self._pid = None
        self._queue = None
        self._thread = None
        self._lock = threading.Lock()

    def _ensure_running(self):
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid != os.getpid() or self._thread is None:
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, name="internal-errors", daemon=True)
                self._pid = os.getpid()
                self._thread.start()

    def is_writer(self) -> bool:
        return threading.current_thread() is self._thread

    def add(self, process: str, logger: str, exception_type: str, message: str, at) -> None:
        self._ensure_running()
        self._queue.put((process, logger, exception_type, message, at))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything added so far is written (True), or the timeout passed (False)."""
        self._ensure_running()
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self):
        pending: dict[tuple, list] = {}  # key -> [count, last message, first at, last at]
        waiters = []
        while True:
            try:
                item = self._queue.get(timeout=RETRY_SECONDS if pending else None)
            except queue.Empty:
                item = None
            while item is not None:  # take everything queued, then write once
                if isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    process, logger, exception_type, message, at = item
                    key = (process, logger, exception_type)
                    if key in pending:
                        entry = pending[key]
                        entry[0] += 1
                        entry[1], entry[3] = message, at
                    elif len(pending) < MAX_PENDING_KEYS:
                        pending[key] = [1, message, at, at]
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if pending:
                pending = self._write(pending)
            if not pending:
                for waiter in waiters:
                    waiter.set()
                waiters = []

    def _write(self, pending: dict) -> dict:
        from django.db import close_old_connections, connection

        left = dict(pending)
        try:
            close_old_connections()
            for key, entry in pending.items():
                _upsert(key, *entry)
                del left[key]
        except Exception as exc:
            own_log.warning("could not record %d internal error count(s), retrying in %.0f s: %s",
                            sum(entry[0] for entry in left.values()), RETRY_SECONDS, exc)
        finally:
            try:
                # Faults are rare: no connection held open between them (and a broken one is opened anew).
                connection.close()
            except Exception:
                pass
        return left


def _upsert(key, count, message, first_at, last_at):
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from broker.dashboard.models import InternalError

    process, logger, exception_type = key
    rows = InternalError.objects.filter(process=process, logger=logger, exception_type=exception_type)
    if rows.update(count=F("count") + count, last_message=message, last_at=last_at):
        return
    try:
        with transaction.atomic():
            InternalError.objects.create(process=process, logger=logger, exception_type=exception_type, count=count,
                                         last_message=message, first_at=first_at, last_at=last_at)
    except IntegrityError:  # another process created it meanwhile
        rows.update(count=F("count") + count, last_message=message, last_at=last_at)


recorder = Recorder()


class InternalErrorHandler(logging.Handler):
    """Counts records with a traceback at ERROR or above from the broker's own loggers (settings.LOGGING)."""

    def __init__(self, level=logging.ERROR):
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not record.exc_info or record.exc_info[0] is None or PROCESS_KIND is None:
                return
            if logger_label(record.name) is None or recorder.is_writer():
                return
            exc_type = record.exc_info[0]
            name = f"{exc_type.__module__}.{exc_type.__qualname__}"[:200]
            message = record.getMessage()[:2000]
            recorder.add(PROCESS_KIND, record.name[:100], name, message,
                         datetime.fromtimestamp(record.created, tz=UTC))
        except Exception:
            self.handleError(record)
