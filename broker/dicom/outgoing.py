"""Pace a long stream of responses to the network, so the association can still hear the peer.

pynetdicom's DUL thread sends every queued PDU before it reads from the socket again. A C-FIND
answer produced faster than the network takes it keeps that queue full: a C-CANCEL from the
modality stays unread until the whole answer has gone (and the answer piles up in memory).
Waiting every few responses until the queue is empty gives the DUL its turn to read.
"""
import time

# Responses produced between two waits: small enough that a C-CANCEL stops the answer within
# a few dozen responses, large enough that the waits cost little.
RESPONSES_PER_WAIT = 16
_POLL_SECONDS = 0.0002


def wait_until_sent(assoc, timeout: float) -> bool:
    """Wait until every PDU queued on `assoc` has gone to the socket.

    False when nobody will take them: the association ended (peer abort, closed socket; its
    network thread is gone) or nothing was sent for `timeout` seconds.
    """
    queued = assoc.dul.to_provider_queue
    deadline = time.monotonic() + timeout
    while queued.qsize():
        if not (assoc.is_established and assoc.dul.is_alive()) or time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
