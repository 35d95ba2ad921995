"""Deadlines on what a peer sends, so no connection holds a listener slot by sending part of a PDU.

pynetdicom's DUL reads a PDU with blocking `recv` calls on a socket without timeout: a peer that sends
3 bytes of a header, or a header of an unknown PDU type followed by fewer bytes than 6, keeps the DUL
thread (and its association slot) forever. Here every connection's reads get deadlines:

- the A-ASSOCIATE-RQ must be complete BROKER_DICOM_ACSE_TIMEOUT seconds after connect;
- once a PDU's first byte has arrived, the whole PDU must within BROKER_DICOM_PDU_TIMEOUT seconds;
- an unknown PDU type, or a length beyond what the broker accepts, is answered by an A-ABORT at once;
- on the TLS port, the TLS handshake must be done BROKER_DICOM_ACSE_TIMEOUT seconds after connect
  (`tls_handshake`); then the request has its own deadline as above.

A peer that misses a deadline gets an A-ABORT; then every read returns nothing, which pynetdicom
treats as a closed transport (Evt17) and ends the association. The A-ABORT is written from the DUL
thread (the one that calls recv), which is also the thread that writes every other PDU.
"""
import logging
import select
import socket
import ssl
import struct
import time

from django.conf import settings

from broker.core.dicom_net.association import replace_reader, stop_waiting_for_request

log = logging.getLogger(__name__)

KNOWN_PDU_TYPES = frozenset(range(0x01, 0x08))
P_DATA_TF = 0x04
# Largest PDU other than P-DATA-TF accepted (an A-ASSOCIATE-RQ with 128 rich contexts is ~50 KB).
MAX_CONTROL_PDU_BYTES = 1024 * 1024
# A-ABORT source service-provider (2); reasons (PS3.8 9.3.8): not specified, unrecognized PDU, invalid parameter value.
REASON_NOT_SPECIFIED, REASON_UNRECOGNIZED_PDU, REASON_INVALID_PARAMETER = 0x00, 0x01, 0x06
# The first byte of every TLS connection: a TLS record of type handshake (RFC 8446 5.1).
TLS_HANDSHAKE_RECORD = 0x16
A_ASSOCIATE_RQ = 0x01


def a_abort(reason: int) -> bytes:
    return struct.pack(">BBLBBBB", 0x07, 0x00, 4, 0x00, 0x00, 0x02, reason)


def max_pdu_length(pdu_type: int) -> int | None:
    if pdu_type == P_DATA_TF:
        # Our Maximum Length Received bounds a P-DATA-TF's variable field (PS3.8 D.1); 0 = no limit.
        return settings.BROKER_DICOM_MAX_PDU or None
    return MAX_CONTROL_PDU_BYTES


class DeadlineReader:
    """Replaces one AssociationSocket's `recv` (the DUL's only way to read)."""

    def __init__(self, assoc, assoc_socket, before_read=None):
        self.assoc = assoc
        self.assoc_socket = assoc_socket
        self.before_read = before_read
        self.request_deadline = time.monotonic() + settings.BROKER_DICOM_ACSE_TIMEOUT
        self.pdu_deadline = None
        self.requested = False  # a whole A-ASSOCIATE-RQ has been read
        self.closed = False
        self.pending_type = None

    def peer(self) -> str:
        return f"{self.assoc.requestor.address}:{self.assoc.requestor.port}"

    def recv(self, nr_bytes: int) -> bytearray:
        if self.closed:
            return bytearray()
        if nr_bytes == 0:  # the body of a PDU of length 0 (invalid for every type: pynetdicom aborts it)
            self.pdu_deadline = self.pending_type = None
            return bytearray()
        now = time.monotonic()
        header = self.pdu_deadline is None
        if header:  # the DUL reads a header (6 bytes) first, then the body
            self.pdu_deadline = now + settings.BROKER_DICOM_PDU_TIMEOUT
        deadline = self.pdu_deadline if self.requested else min(self.pdu_deadline, self.request_deadline)
        data = self._read(nr_bytes, deadline)
        if len(data) < nr_bytes:
            if time.monotonic() >= deadline:
                what = "association request" if deadline == self.request_deadline and not self.requested else "PDU"
                self._abort(REASON_NOT_SPECIFIED, f"sent {len(data)} of {nr_bytes} bytes of a {'PDU header' if header else 'PDU body'} "
                            f"and missed the {what} deadline")
            else:
                self._end()  # the peer closed the connection
            return data
        if header:
            pdu_type, _, length = struct.unpack(">BBL", bytes(data))
            if pdu_type not in KNOWN_PDU_TYPES:
                hint = (" (a TLS handshake: this port speaks plain DICOM; TLS is on BROKER_DICOM_TLS_PORT)"
                        if pdu_type == TLS_HANDSHAKE_RECORD and not self.requested else "")
                self._abort(REASON_UNRECOGNIZED_PDU, f"sent an unknown PDU type 0x{pdu_type:02X}{hint}")
                return bytearray()
            limit = max_pdu_length(pdu_type)
            if limit is not None and length > limit:
                self._abort(REASON_INVALID_PARAMETER, f"announced a PDU of type 0x{pdu_type:02X} of {length} bytes "
                            f"(limit {limit})")
                return bytearray()
            self.pending_type = pdu_type
        else:
            self._pdu_done()
        return data

    def _pdu_done(self) -> None:
        if self.pending_type == 0x01:
            self.requested = True
        self.pdu_deadline = None
        self.pending_type = None

    def _read(self, nr_bytes: int, deadline: float) -> bytearray:
        sock = self.assoc_socket.socket
        data = bytearray()
        if sock is None:
            return data
        try:
            while len(data) < nr_bytes:
                # Past the deadline a read still takes what has already arrived (timeout 0: non-blocking):
                # the deadline judges the peer's sending, not how soon a loaded broker got to read it.
                remaining = max(0.0, deadline - time.monotonic())
                if self.before_read is not None:
                    self.before_read(sock)
                sock.settimeout(remaining)
                chunk = sock.recv(min(4096, nr_bytes - len(data)))
                if not chunk:
                    break
                data.extend(chunk)
        except (TimeoutError, OSError):
            pass
        finally:
            try:
                sock.settimeout(None)
            except OSError:
                pass
        return data

    def _abort(self, reason: int, why: str) -> None:
        log.warning("DICOM peer %s %s: A-ABORT, connection closed", self.peer(), why)
        sock = self.assoc_socket.socket
        try:
            if sock is not None:
                sock.settimeout(1.0)  # a peer that does not read must not hold us either
                sock.sendall(a_abort(reason))
                sock.settimeout(None)
        except OSError:
            pass
        self._end()

    def _end(self) -> None:
        self.closed = True
        if not self.requested:
            # The association thread waits ACSE-timeout seconds for a request; None wakes it now
            # (pynetdicom's own "no request in time" path: kill the DUL, close the socket).
            stop_waiting_for_request(self.assoc)


def install(assoc, before_read=None) -> None:
    """EVT_CONN_OPEN: give this connection's reads their deadlines."""
    replace_reader(assoc, lambda assoc, transport: DeadlineReader(assoc, transport, before_read).recv)


# What OpenSSL's reason for a failed server handshake means for the operator.
TLS_FAILURES = {
    "CERTIFICATE_VERIFY_FAILED": "its client certificate is not signed by BROKER_TLS_CA",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "it sent no client certificate (BROKER_TLS_CA is set: one is required)",
    "UNSUPPORTED_PROTOCOL": "it offered only TLS versions older than 1.2",
    "NO_SHARED_CIPHER": "it offered no cipher of BCP 195 (TLS 1.2 ECDHE/DHE with AES-GCM or ChaCha20, or TLS 1.3)",
    "WRONG_VERSION_NUMBER": "it did not speak TLS 1.2 or later",
}
# Each wait below is bounded by the deadline; this bounds the rounds too (a handshake takes a handful).
MAX_HANDSHAKE_ROUNDS = 200


def _wait(sock: socket.socket, events: int, deadline: float) -> bool:
    """Whether the socket is ready for `events` before the deadline (poll: no descriptor limit, unlike select)."""
    poller = select.poll()
    poller.register(sock, events | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))


def _first_byte(sock: ssl.SSLSocket, deadline: float) -> int | None:
    """The first byte the peer sent, left in the socket for OpenSSL; None when it sent nothing in time,
    -1 when it closed the connection first."""
    if not _wait(sock, select.POLLIN, deadline):
        return None
    peeked = socket.socket.recv(sock, 1, socket.MSG_PEEK)  # the TCP socket under the TLS layer
    return peeked[0] if peeked else -1


def _handshake(sock: ssl.SSLSocket, deadline: float) -> str:
    """Drives the server handshake in non-blocking steps until done (""), failed or out of time (why)."""
    for _ in range(MAX_HANDSHAKE_ROUNDS):
        try:
            sock.do_handshake()
            return ""
        except ssl.SSLWantReadError:
            events = select.POLLIN
        except ssl.SSLWantWriteError:
            events = select.POLLOUT
        if time.monotonic() >= deadline or not _wait(sock, events, deadline):
            break
    return f"it did not finish the TLS handshake within {settings.BROKER_DICOM_ACSE_TIMEOUT} s (BROKER_DICOM_ACSE_TIMEOUT)"


def _abort_plain_request(sock: ssl.SSLSocket) -> None:
    """A plain A-ABORT: the one answer a peer without TLS can read ("peer aborted", not a silent close).
    What the request had sent is read first, so closing does not reset the connection before the A-ABORT."""
    socket.socket.send(sock, a_abort(REASON_NOT_SPECIFIED))
    try:
        for _ in range(16):  # an A-ASSOCIATE-RQ is at most MAX_CONTROL_PDU_BYTES
            if not socket.socket.recv(sock, 65536):
                break
    except OSError:  # BlockingIOError: all that had arrived is read
        pass


def tls_handshake(sock: ssl.SSLSocket, client_address) -> bool:
    """Runs a TLS connection's server handshake under the association-request deadline; on failure logs
    why, answers plain DICOM with a plain A-ABORT, and returns False (the caller closes the socket)."""
    peer = f"{client_address[0]}:{client_address[1]}"
    deadline = time.monotonic() + settings.BROKER_DICOM_ACSE_TIMEOUT
    why = ""
    try:
        sock.setblocking(False)
        first = _first_byte(sock, deadline)
        if first is None:
            why = f"it sent nothing within {settings.BROKER_DICOM_ACSE_TIMEOUT} s (BROKER_DICOM_ACSE_TIMEOUT)"
        elif first == -1:
            why = "it closed the connection before the TLS handshake"
        elif first == A_ASSOCIATE_RQ:
            _abort_plain_request(sock)
            why = "it sent a plain DICOM association request to the TLS port (use TLS, or the plain port)"
        elif first != TLS_HANDSHAKE_RECORD:
            why = f"it did not start a TLS handshake (first byte 0x{first:02X})"
        else:
            why = _handshake(sock, deadline)
    except ssl.SSLError as exc:
        why = TLS_FAILURES.get(exc.reason or "", f"TLS handshake failed ({exc.reason or exc})")
        if exc.reason == "CERTIFICATE_VERIFY_FAILED" and getattr(exc, "verify_message", ""):
            why += f": {exc.verify_message}"
    except (OSError, ValueError) as exc:
        why = f"it closed the connection during the TLS handshake ({getattr(exc, 'strerror', None) or exc})"
    finally:
        try:
            sock.setblocking(True)
        except OSError:
            pass
    if why:
        log.warning("DICOM TLS connection from %s refused: %s", peer, why)
        return False
    return True


_last_refusal_log = [0.0]


def connection_allowed(open_connections: int, client_address) -> bool:
    if open_connections < settings.BROKER_DICOM_MAX_CONNECTIONS:
        return True
    now = time.monotonic()
    if now - _last_refusal_log[0] > 10:  # a flood must not flood the log too
        _last_refusal_log[0] = now
        log.warning("DICOM connection from %s closed: %d connections open (BROKER_DICOM_MAX_CONNECTIONS)",
                    client_address[0], open_connections)
    return False


def listen_backlog() -> int:
    # Linux caps it at net.core.somaxconn (4096 on current kernels; 128 on old ones).
    return settings.BROKER_DICOM_LISTEN_BACKLOG
