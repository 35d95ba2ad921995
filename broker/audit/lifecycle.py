"""The broker's own events: a process started (with the configuration it runs with) or stopped, certificate problems."""
import logging
import os
import socket

from django.conf import settings
from django.db import DatabaseError

from broker.audit import events
from broker.audit.models import AuditEvent
from broker.audit.trail import record

# Settings whose value is a secret: named in the configuration at start, their value never.
_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD")

log = logging.getLogger(__name__)


def configuration() -> dict:
    """The broker's BROKER_* settings as they are in force (secrets masked), for the start event."""
    shown = {}
    for name in sorted(dir(settings)):
        if not name.startswith("BROKER_"):
            continue
        value = getattr(settings, name)
        shown[name] = "(set)" if any(word in name for word in _SECRET_WORDS) and value else value
    return shown


def _host() -> str:
    return socket.gethostname()


def _record_at_the_edge(kind: str, **values) -> None:
    """A process starting or stopping does not wait for the database: without it, the event is a log line only
    (and the real cause of a failed start is reported, not the missing database)."""
    try:
        record(kind, **values)
    except DatabaseError:
        log.exception("could not record the audit event %s (%s)", kind, values.get("detail"))


def started(process: str, **facts) -> None:
    _record_at_the_edge(events.BROKER_START, address=_host(),
                        detail={"process": process, "pid": os.getpid(), **facts, "configuration": configuration()})


def stopped(process: str, **facts) -> None:
    _record_at_the_edge(events.BROKER_STOP, address=_host(), detail={"process": process, "pid": os.getpid(), **facts})


def certificate_problem(where: str, problem: str, *, peer: str = "", outcome=AuditEvent.Outcome.SERIOUS_FAILURE) -> None:
    """The broker's own certificate could not be used (at start), or a peer's certificate was refused."""
    _record_at_the_edge(events.CERTIFICATE_PROBLEM, outcome=outcome, address=peer or _host(),
                        detail={"where": where, "problem": str(problem)[:500]})
