"""The admin's "Test connection": one C-ECHO to a DICOM peer or one MLLP round trip to the RIS, and the result
in words a PACS administrator can act on ("the RIS at 127.0.0.1:2575 refused the connection"), not an errno.

Each test is bounded by its timeout from the first connect to the last byte; nothing is kept or retried.
"""
import errno
import socket
import ssl
import time
from dataclasses import dataclass

from pynetdicom.sop_class import Verification

from broker.core import identity, tls
from broker.core.hl7v2.mllp import MLLPClient


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    words: str


def socket_error_words(exc: BaseException, peer: str, timeout: float) -> str:
    """What a failed connect or exchange means, said of `peer` ("the RIS at 10.1.2.3:2575")."""
    if isinstance(exc, ConnectionRefusedError):
        return f"{peer} refused the connection (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return f"{peer} did not answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"{peer}: the host name is not known (DNS: {exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"{peer}: TLS failed ({getattr(exc, 'reason', None) or exc.strerror or exc})"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return f"{peer} closed the connection without answering"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{peer} cannot be reached (no route to the host)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{peer}: {exc.strerror.lower()}"
    return f"{peer}: {exc or type(exc).__name__}"


def _reachable(host: str, port: int, peer: str, timeout: float) -> str | None:
    """None when a TCP connection opens, else why not (pynetdicom itself only logs it)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return socket_error_words(exc, peer, timeout)
    return None


def echo(*, calling_ae: str, called_ae: str, host: str, port: int, timeout: float, peer: str,
         ssl_context: ssl.SSLContext | None = None) -> ConnectionTest:
    """A Verification (C-ECHO) association from `calling_ae` to `called_ae` at host:port."""
    if (why := _reachable(host, port, peer, timeout)) is not None:
        return ConnectionTest(False, why)
    ae = identity.application_entity(calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    started = time.monotonic()
    assoc = ae.associate(host, port, ae_title=called_ae,
                         tls_args=(ssl_context, host) if ssl_context is not None else None)
    if not assoc.is_established:
        reason = tls.failure(ssl_context) if ssl_context is not None else None
        if reason:
            return ConnectionTest(False, f"{peer}: TLS failed ({reason})")
        if assoc.is_rejected:
            return ConnectionTest(False, f"{peer} rejected the association: it does not accept the called AE title "
                                         f"{called_ae} or the calling AE title {calling_ae}")
        return ConnectionTest(False, f"{peer} accepted the connection but did not set up a DICOM association "
                                     f"within {timeout:g} s (is it a DICOM port{'' if ssl_context else ', or does it want TLS'}?)")
    try:
        if not any(c.abstract_syntax == Verification and c.result == 0 for c in assoc.accepted_contexts):
            return ConnectionTest(False, f"{peer} accepted the association but not Verification (C-ECHO)")
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    elapsed = (time.monotonic() - started) * 1000
    if not status or "Status" not in status:
        return ConnectionTest(False, f"{peer} did not answer the C-ECHO within {timeout:g} s")
    if status.Status != 0x0000:
        return ConnectionTest(False, f"{peer} answered the C-ECHO with status 0x{status.Status:04X}")
    return ConnectionTest(True, f"{peer} answered the C-ECHO with Success in {elapsed:.0f} ms")


def mllp_round_trip(*, host: str, port: int, timeout: float, peer: str, message: bytes, read_reply,
                    ssl_context: ssl.SSLContext | None = None) -> ConnectionTest:
    """Send one framed message and read its reply; `read_reply(bytes)` says in words what the reply means and
    whether the round trip worked: (ok, words)."""
    started = time.monotonic()
    try:
        with MLLPClient(host, port, timeout=timeout, ssl_context=ssl_context) as client:
            reply = client.send(message)
    except ConnectionError as exc:
        if isinstance(exc, ConnectionRefusedError):
            return ConnectionTest(False, socket_error_words(exc, peer, timeout))
        return ConnectionTest(False, f"{peer} closed the connection without answering")
    except OSError as exc:
        reason = tls.failure(ssl_context) if ssl_context is not None else None
        return ConnectionTest(False, f"{peer}: TLS failed ({reason})" if reason else socket_error_words(exc, peer, timeout))
    ok, words = read_reply(reply)
    elapsed = (time.monotonic() - started) * 1000
    return ConnectionTest(ok, f"{peer} {words} in {elapsed:.0f} ms")
