"""Builds the broker's one pynetdicom AE from the settings and the service modules.

Association-level concerns live here: the remote AE registry (record / refuse the caller) and
socket options. Database work runs in `db_work`'s long-lived threads, not the association's.
What touches pynetdicom's internals (the server classes, the read deadlines, the C-FIND shortcut)
is in broker.core.dicom_net; `start` passes its version gate first.
"""
import gc
import logging
import socket

from django.conf import settings
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.transport import AssociationServer

from broker.core.dicom_net import options, peer_faults, transport_limits, version
from broker.core.dicom_net.association import tcp_socket
from broker.core.dicom_net.find_response import install_find_response_shortcut
from broker.core.dicom_net.server import start_server
from broker.dicom import db_work, registry
from broker.dicom.services import SERVICES

log = logging.getLogger(__name__)


def tune_pynetdicom() -> None:
    """pynetdicom's switches for a listener: no identifier logging; its standard handlers only for
    BROKER_PYNETDICOM_LOG_LEVEL=DEBUG; pending C-FIND responses reuse their encoded Command Set."""
    options.quiet_identifier_logging()
    if settings.LOGGING["loggers"]["pynetdicom"]["level"] != "DEBUG":
        options.quiet_standard_handlers()
    install_find_response_shortcut()


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
    sock = tcp_socket(event.assoc)
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


def start(host: str | None = None, port: int | None = None, *, shared_port: bool = False) -> AssociationServer:
    """Start the listener in background threads; call `.shutdown()` on the result to stop it.

    `shared_port`: other listener processes may bind the same port (see dicom_net.server.SharedPortServer).
    Raises dicom_net.version.UntestedPynetdicom on an untested pynetdicom (BROKER_PYNETDICOM_UNTESTED).
    """
    version.require_tested()
    tune_pynetdicom()
    ae = build_ae()
    address = (host if host is not None else settings.BROKER_HOST, port if port is not None else settings.BROKER_DICOM_PORT)
    registry.clear_cache()
    server = start_server(ae, address, all_handlers(), shared_port=shared_port)
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

