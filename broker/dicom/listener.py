"""Builds the broker's one pynetdicom AE from the settings and the service modules.

Association-level concerns live here: the remote AE registry (record / refuse the caller) and
socket options. Database work runs in `db_work`'s long-lived threads, not the association's.
"""
import gc
import logging
import socket
import threading

from django.conf import settings
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, _config, evt
from pynetdicom.transport import AssociationServer, ThreadedAssociationServer

from broker.dicom import db_work, find_response_message, peer_faults, registry, transport_limits
from broker.dicom.supported_contexts import SupportedContexts
from broker.dicom.services import SERVICES

log = logging.getLogger(__name__)

# pynetdicom decodes and pretty-prints every request and response identifier for its own log,
# even when that log level is off: pure overhead on a busy worklist.
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False
# Likewise its standard handlers format every PDU and DIMSE message for a debug log nobody reads in
# production; BROKER_PYNETDICOM_LOG_LEVEL=DEBUG turns them back on for troubleshooting.
if settings.LOGGING["loggers"]["pynetdicom"]["level"] != "DEBUG":
    _config.LOG_HANDLER_LEVEL = "none"


# Pending C-FIND responses reuse their encoded Command Set (see find_response_message).
find_response_message.install()


def build_ae() -> AE:
    ae = AE(ae_title=settings.BROKER_AE_TITLE)
    # pynetdicom counts every open connection (even one that never sends a request) against this; the broker
    # counts admitted associations itself (registry) and caps connections at accept (BrokerAssociationServer).
    ae.maximum_associations = settings.BROKER_DICOM_MAX_CONNECTIONS
    ae.maximum_pdu_size = settings.BROKER_DICOM_MAX_PDU
    ae.acse_timeout = settings.BROKER_DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.BROKER_DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.BROKER_DICOM_NETWORK_TIMEOUT
    for service in SERVICES:
        for context in service.SUPPORTED_CONTEXTS:
            if isinstance(context, tuple):
                ae.add_supported_context(*context)
            else:
                ae.add_supported_context(context, ALL_TRANSFER_SYNTAXES)
    return ae


def _quickack(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    except OSError:
        pass


def _tune_socket(event):
    """TCP_NODELAY: our PDUs leave at once. TCP_QUICKACK before every read: the peer's PDUs do too.

    Peers that write a PDU header and its body separately with Nagle on (DCMTK as shipped, many
    modalities) cannot send the body until their header is acknowledged; Linux would delay that
    ACK by ~40 ms. QUICKACK is not sticky (the kernel drops it when we answer), so it is re-armed
    before each read; setting it also flushes an ACK already pending.
    """
    assoc_socket = event.assoc.dul.socket
    sock = assoc_socket.socket if assoc_socket else None
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return
    quickack = settings.BROKER_DICOM_QUICKACK and hasattr(socket, "TCP_QUICKACK")
    # Every read has a deadline (transport_limits); QUICKACK is re-armed before each read.
    transport_limits.install(event.assoc, before_read=_quickack if quickack else None)
    if quickack:
        _quickack(sock)


def _guard_against_peer_faults(event):
    peer_faults.guard(event.assoc)


def all_handlers() -> list:
    bound = [
        (evt.EVT_CONN_OPEN, _guard_against_peer_faults),
        (evt.EVT_CONN_OPEN, _tune_socket),
        (evt.EVT_REQUESTED, registry.on_association_requested),
    ]
    for service in SERVICES:
        bound.extend(service.handlers())
    return bound


class BrokerAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with a listen backlog that absorbs a burst of connects (its default is 5)."""

    def server_activate(self) -> None:
        self.socket.listen(transport_limits.listen_backlog())

    def verify_request(self, request, client_address) -> bool:
        """Beyond BROKER_DICOM_MAX_CONNECTIONS open connections a new one is closed at once (two threads each)."""
        return transport_limits.connection_allowed(len(self.active_associations), client_address)


class SharedPortServer(BrokerAssociationServer):
    """A listener socket with SO_REUSEPORT: several listener processes bind the same port and the
    kernel spreads the incoming associations over them (rundicom --processes)."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def start(host: str | None = None, port: int | None = None, *, shared_port: bool = False) -> AssociationServer:
    """Start the listener in background threads; call `.shutdown()` on the result to stop it.

    `shared_port`: other listener processes may bind the same port (see SharedPortServer).
    """
    ae = build_ae()
    address = (host if host is not None else settings.BROKER_HOST, port if port is not None else settings.BROKER_DICOM_PORT)
    registry.clear_cache()
    # What ae.start_server(block=False) does, with a choice of server class.
    server = ae.make_server(address, evt_handlers=all_handlers(),
                            server_class=SharedPortServer if shared_port else BrokerAssociationServer)
    threading.Thread(target=server.serve_forever, name="dicom-accept", daemon=True).start()
    ae._servers.append(server)  # AssociationServer.shutdown() removes it again
    server.contexts = SupportedContexts(server.contexts)  # copied per association: keep that cheap
    stop_server = server.shutdown

    def shutdown() -> None:
        stop_server()
        db_work.shutdown()

    server.shutdown = shutdown
    log.info("DICOM listener %s on %s:%s", settings.BROKER_AE_TITLE, *server.server_address[:2])
    return server


def freeze_startup_objects() -> None:
    """Exempt everything loaded at start-up (Django, pydicom's dictionaries, …) from garbage collection.

    pynetdicom's server runs a full gc.collect() every 60 associations; over the ~100,000 objects
    of a started listener that holds the GIL for 0.1-0.2 s, stalling every association. After
    gc.freeze() a collection only walks what was created since. For the listener process (rundicom),
    not for processes that start a listener among other work (tests).
    """
    gc.collect()
    gc.freeze()

