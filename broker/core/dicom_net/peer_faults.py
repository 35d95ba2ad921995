"""A malformed PDU or DIMSE message from a peer ends that association with an A-ABORT and one warning line.

pynetdicom assumes a well-behaved peer in places: a mutated A-ASSOCIATE-RQ (a presentation context without
a transfer syntax, an even context ID, control characters in an AE title) raises inside the association's
negotiation; an A-ASSOCIATE-RJ or A-ABORT sent before any association, or a P-DATA-TF whose items do not
add up, raises inside the DUL's state machine. The exception kills that thread with a traceback on stderr,
and the socket stays open until the peer gives up: a hang for the peer, a traceback for the operator, for
input that is the peer's fault alone.

`guard(assoc)` (EVT_CONN_OPEN, before the association's threads start) wraps the targets of both threads:
an exception escaping them aborts the association (A-ABORT, service-provider, "invalid PDU parameter value"),
closes the socket and logs one warning naming the peer and what was wrong. `PeerFaultLogFilter` turns
pynetdicom's own tracebacks for the same faults (decoding and state-machine errors it catches and logs with
`LOGGER.exception`) into one warning line each; exceptions in the broker's event handlers keep their
traceback, since those are the broker's own faults.
"""
import logging
import threading

from broker.core.dicom_net.transport_limits import REASON_INVALID_PARAMETER, a_abort

log = logging.getLogger(__name__)

# pynetdicom modules that decode what the peer sent or run the state machine on it.
PEER_INPUT_LOGGERS = frozenset({
    "pynetdicom.acse", "pynetdicom.dimse", "pynetdicom.dimse_messages", "pynetdicom.dsutils", "pynetdicom.dul",
    "pynetdicom.fsm", "pynetdicom.pdu", "pynetdicom.pdu_items", "pynetdicom.pdu_primitives",
    "pynetdicom.presentation", "pynetdicom.utils",
})


def _peer(assoc) -> str:
    try:
        return f"{assoc.requestor.address}:{assoc.requestor.port}"
    except Exception:
        return "?"


def _abort(assoc) -> None:
    """What pynetdicom itself does when its reactor fails, done from outside the broken thread."""
    assoc.is_aborted = True
    assoc.is_established = False
    assoc._kill = True
    dul = assoc.dul
    dul._kill_thread = True
    transport = dul.socket
    sock = getattr(transport, "socket", None) if transport is not None else None
    if sock is None:
        return
    try:
        sock.settimeout(1.0)  # a peer that does not read must not hold this thread
        sock.sendall(a_abort(REASON_INVALID_PARAMETER))
    except OSError:
        pass
    try:
        transport.close()  # does nothing once pynetdicom has marked the transport disconnected
    except Exception:
        pass
    try:
        sock.close()  # so the socket itself is closed in every case (no ResourceWarning, no leaked descriptor)
    except OSError:
        pass
    # An association thread waiting for the request (or for a DIMSE message) is woken now.
    dul.to_user_queue.put(None)


def _guarded(assoc, target, what: str):
    def run() -> None:
        try:
            target()
        except Exception as exc:
            log.warning("association from %s aborted: the peer sent what the %s cannot process (%s: %s)",
                        _peer(assoc), what, type(exc).__name__, str(exc)[:200])
            _abort(assoc)

    return run


def guard(assoc) -> None:
    """EVT_CONN_OPEN: wrap the association's and its DUL's thread targets (neither thread has started yet)."""
    for thread, what in ((assoc, "association negotiation"), (assoc.dul, "DICOM upper layer")):
        target = getattr(thread, "_target", None)
        if isinstance(thread, threading.Thread) and target is not None and not thread.is_alive():
            thread._target = _guarded(assoc, target, what)


class PeerFaultLogFilter(logging.Filter):
    """pynetdicom's tracebacks for a peer's malformed input become one warning line (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.name in PEER_INPUT_LOGGERS:
            exc = record.exc_info[1]
            record.exc_info = None
            record.exc_text = None
            text = record.getMessage()
            detail = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) if exc is not None else ""
            if detail and (not str(exc) or str(exc) not in text):
                record.msg, record.args = (f"{text} ({detail})" if text.strip() else detail), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
