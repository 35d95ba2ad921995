"""Pace a long stream of responses to the network, so the association can still hear the peer.

pynetdicom's DUL thread sends every queued PDU before it reads from the socket again. A C-FIND
answer produced faster than the network takes it keeps that queue full: a C-CANCEL from the
modality stays unread until the whole answer has gone (and the answer piles up in memory).
Waiting every few responses (or every BROKER_MWL_MAX_QUEUED_BYTES) until the queue is empty
gives the DUL its turn to read and bounds what one association holds queued (the kernel's send
buffer is capped to the same size for the answer).

A peer that stops reading never empties the queue; its DUL thread blocks in send(). After the
send deadline `end_stalled` ends such an association: the socket is shut down (which wakes the
blocked send) and reset on close, so neither the thread nor the kernel's buffers stay behind.
"""
import logging
import socket
import struct
import time

from broker.core.dicom_net.association import drop_queued_pdus, is_connected, queued_pdus, tcp_socket

log = logging.getLogger(__name__)

# Responses produced between two waits: small enough that a C-CANCEL stops the answer within
# a few dozen responses, large enough that the waits cost little.
RESPONSES_PER_WAIT = 16
_POLL_SECONDS = 0.0002
# What a response Dataset without its own encoding is counted as.
_UNKNOWN_RESPONSE_BYTES = 2048


def response_bytes(response) -> int:
    encoded = getattr(response, "encoded", None)
    return len(encoded) if isinstance(encoded, (bytes, bytearray)) and encoded else _UNKNOWN_RESPONSE_BYTES


class Pacer:
    """Says when the producer of one answer must wait for the network: every N responses or B bytes."""

    def __init__(self, responses: int = RESPONSES_PER_WAIT, max_bytes: int = 256 * 1024):
        self.responses = responses
        self.max_bytes = max_bytes
        self._count = 0
        self._bytes = 0

    def sent(self, response) -> None:
        self._count += 1
        self._bytes += response_bytes(response)

    def must_wait(self) -> bool:
        if self._count >= self.responses or self._bytes >= self.max_bytes:
            self._count = self._bytes = 0
            return True
        return False


def wait_until_sent(assoc, timeout: float) -> bool:
    """Wait until every PDU queued on `assoc` has gone to the socket.

    False when nobody will take them: the association ended (peer abort, closed socket; its
    network thread is gone) or nothing was sent for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while queued_pdus(assoc):
        if not is_connected(assoc) or time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def limit_send_buffer(assoc, max_bytes: int) -> None:
    """Cap the kernel's send buffer of this association (Linux autotunes it up to 4 MiB otherwise):
    bounds what a peer that stops reading leaves queued, and makes the stall visible to the pacer."""
    sock = tcp_socket(assoc)
    if sock is None or max_bytes <= 0:
        return
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > max_bytes:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max_bytes)
    except OSError:
        pass


def end_stalled(assoc) -> None:
    """End an association whose peer stopped reading: A-ABORT queued, socket shut down and reset."""
    try:
        drop_queued_pdus(assoc)  # the unsent responses: nobody will read them
    except Exception:
        pass
    sock = tcp_socket(assoc)
    if sock is not None:
        try:
            # Linger 0: close() resets the connection and drops what the kernel still holds for it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)  # wakes the network thread blocked in send()
        except OSError:
            pass
    try:
        assoc.abort()
    except Exception:
        log.debug("abort of a stalled association failed", exc_info=True)
