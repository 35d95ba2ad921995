"""One association's pynetdicom internals, each behind a named function.

pynetdicom keeps an association's TCP socket, its outgoing PDU queue and the server that accepted it on
private or undocumented attributes (`assoc.dul`, `assoc._server`, `assoc.acse`); nothing outside this
package touches them.
"""
import socket

from pynetdicom.pdu_primitives import A_RELEASE


def tcp_socket(assoc) -> socket.socket | None:
    """The association's connected socket, or None before the connection opened / after it closed."""
    transport = getattr(assoc.dul, "socket", None)
    return getattr(transport, "socket", None) if transport is not None else None


def is_connected(assoc) -> bool:
    """Established and its network thread (the DUL) still running: a PDU queued now will be sent."""
    return assoc.is_established and assoc.dul.is_alive()


def queued_pdus(assoc) -> int:
    """PDUs queued for the network thread and not yet written to the socket."""
    return assoc.dul.to_provider_queue.qsize()


def drop_queued_pdus(assoc) -> None:
    """Forget the PDUs not yet sent (for a peer that will not read them)."""
    assoc.dul.to_provider_queue.queue.clear()


def server_of(assoc):
    """The AssociationServer that accepted this association (None for one we requested)."""
    return getattr(assoc, "_server", None)


def listener_associations(assoc) -> list:
    """The associations accepted by every server of this association's AE (the plain and the TLS port),
    this one included; [] for one we requested."""
    server = server_of(assoc)
    return [a for a in server.ae.active_associations if server_of(a) is not None] if server is not None else []


def reject(assoc, result: int, source: int, reason: int) -> None:
    """Answer the A-ASSOCIATE-RQ with an A-ASSOCIATE-RJ (PS3.8 9.3.4) and end the association, as
    pynetdicom's own rejections do (the DUL sends the RJ before the socket closes)."""
    assoc.acse.send_reject(result, source, reason)
    assoc.kill()


def replace_reader(assoc, make_recv) -> bool:
    """Route every read of the association's network thread through `make_recv(assoc, transport)`'s
    result (a `recv(nr_bytes) -> bytearray`); False when the connection has no socket (any more)."""
    transport = getattr(assoc.dul, "socket", None)
    if transport is None or transport.socket is None:
        return False
    transport.recv = make_recv(assoc, transport)
    return True


def reader_replaced(assoc) -> bool:
    """Whether `replace_reader` took the association's reads over."""
    transport = getattr(assoc.dul, "socket", None)
    return transport is not None and "recv" in vars(transport)


def stop_waiting_for_request(assoc) -> None:
    """Wake the association thread waiting for an A-ASSOCIATE-RQ: it ends the association at once
    (pynetdicom's own "no request in time" path: the DUL stopped, the socket closed)."""
    assoc.dul.to_user_queue.put(None)


def keep_responses_for_the_sender(assoc) -> None:
    """Work around a race in pynetdicom 3.0: the association's reactor thread, which serves incoming requests,
    can slip past its pause and take the C-STORE response a send_c_store() is waiting for; it drops it as an
    "unexpected C-STORE service message" and the send waits out the DIMSE timeout, failing the job. Seen on
    loopback about once per few hundred fast stores. A response taken that way is put back for the sender.
    The same holds for a listener's association that sends a request of its own (a storage commitment report)."""
    if getattr(assoc, "_broker_keeps_responses", False):
        return  # already installed (an association that sends several requests)
    serve = assoc._serve_request

    def serve_requests_only(msg, context_id):
        if not msg.is_valid_request and msg.is_valid_response:
            assoc.dimse.msg_queue.put((context_id, msg))
            return
        serve(msg, context_id)

    assoc._serve_request = serve_requests_only
    assoc._broker_keeps_responses = True


def release_requested(assoc) -> bool:
    """The peer's A-RELEASE-RQ has arrived and the association's own thread has not answered it yet (peeked, not
    taken: that thread still answers it)."""
    primitive = assoc.dul.peek_next_pdu()
    return isinstance(primitive, A_RELEASE) and primitive.result is None
