"""Builds the broker's one pynetdicom AE from the settings and the service modules.

Association-level concerns live here: the remote AE registry (record / refuse the caller) and
socket options. Database work runs in `db_work`'s long-lived threads, not the association's.
What touches pynetdicom's internals (the server classes, the read deadlines, the C-FIND shortcut)
is in broker.core.dicom_net; `start` passes its version gate first.

`start_listeners` serves the same AE, services, checks and limits on the plain port and, with
BROKER_DICOM_TLS_PORT, on a TLS port (DICOM PS3.15 Annex B; the context from broker.core.tls).
"""
import gc
import logging
import socket
import ssl
from dataclasses import dataclass

from django.conf import settings
from pynetdicom import AE, evt
from pynetdicom.transport import AssociationServer

from broker.core import identity
from broker.core.dicom_net import options, peer_faults, transport_limits, version
from broker.core.dicom_net.association import tcp_socket
from broker.core.dicom_net.find_response import install_find_response_shortcut
from broker.core.dicom_net.server import start_server
from broker.core.tls import listener_context
from broker.dicom import commitment_reports, db_work, registry
from broker.dicom.services import SERVICES, scp_contexts

log = logging.getLogger(__name__)


def tune_pynetdicom() -> None:
    """pynetdicom's switches for a listener: no identifier logging; its standard handlers only for
    BROKER_PYNETDICOM_LOG_LEVEL=DEBUG; pending C-FIND responses reuse their encoded Command Set."""
    options.quiet_identifier_logging()
    if settings.LOGGING["loggers"]["pynetdicom"]["level"] != "DEBUG":
        options.quiet_standard_handlers()
    install_find_response_shortcut()


def build_ae() -> AE:
    ae = identity.application_entity(settings.BROKER_AE_TITLE)
    # pynetdicom counts every open connection (even one that never sends a request) against this; the broker
    # counts admitted associations itself (registry) and caps connections at accept (BrokerAssociationServer).
    ae.maximum_associations = settings.BROKER_DICOM_MAX_CONNECTIONS
    ae.maximum_pdu_size = settings.BROKER_DICOM_MAX_PDU
    ae.acse_timeout = settings.BROKER_DICOM_ACSE_TIMEOUT
    ae.dimse_timeout = settings.BROKER_DICOM_DIMSE_TIMEOUT
    ae.network_timeout = settings.BROKER_DICOM_NETWORK_TIMEOUT
    for context in scp_contexts():
        ae.add_supported_context(context.sop_class, list(context.transfer_syntaxes))
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


class ListenerConfigurationError(Exception):
    """The listener settings contradict each other (the message names the variables and what to do)."""


@dataclass
class Listeners:
    """The running plain and TLS servers of one AE (either may be None, not both)."""

    plain: AssociationServer | None
    tls: AssociationServer | None

    def shutdown(self) -> None:
        commitment_reports.stop_reporters()
        for server in (self.plain, self.tls):
            if server is not None:
                server.shutdown()
        db_work.shutdown()


def start(host: str | None = None, port: int | None = None, *, shared_port: bool = False) -> AssociationServer:
    """Start the plain listener in background threads; call `.shutdown()` on the result to stop it.

    `shared_port`: other listener processes may bind the same port (see dicom_net.server.SharedPortServer).
    Raises dicom_net.version.UntestedPynetdicom on an untested pynetdicom (BROKER_PYNETDICOM_UNTESTED).
    """
    listeners = start_listeners(host, port, tls_port=None, plain=True, tls=False, shared_port=shared_port)
    server = listeners.plain
    stop_server = server.shutdown

    def shutdown() -> None:
        commitment_reports.stop_reporters()
        stop_server()
        db_work.shutdown()

    server.shutdown = shutdown
    return server


def _tls_port(tls_port: int | None) -> int | None:
    port = tls_port if tls_port is not None else settings.BROKER_DICOM_TLS_PORT
    if port is not None and not 0 <= port <= 65535:
        raise ListenerConfigurationError(f"BROKER_DICOM_TLS_PORT / --tls-port {port} is not a port number "
                                         "(1-65535; 2762 is the registered DICOM TLS port)")
    return port


def start_listeners(host: str | None = None, port: int | None = None, tls_port: int | None = None, *,
                    plain: bool | None = None, tls: bool = True, shared_port: bool = False) -> Listeners:
    """Start the plain listener (unless BROKER_DICOM_PLAIN=false) and the TLS listener (with
    BROKER_DICOM_TLS_PORT or `tls_port`; 0 = a free port) on one AE, in background threads.

    Every check runs before anything listens: raises ListenerConfigurationError for contradicting settings,
    broker.core.tls.TLSConfigurationError for a certificate file that cannot be used (naming the variable),
    and dicom_net.version.UntestedPynetdicom as `start` does.
    """
    version.require_tested()
    plain = settings.BROKER_DICOM_PLAIN if plain is None else plain
    tls_port = _tls_port(tls_port) if tls else None
    if not plain and tls_port is None:
        raise ListenerConfigurationError("BROKER_DICOM_PLAIN=false closes the plain DICOM port, but no TLS port is "
                                         "set: set BROKER_DICOM_TLS_PORT (2762 is the registered DICOM TLS port) "
                                         "or unset BROKER_DICOM_PLAIN")
    context: ssl.SSLContext | None = listener_context() if tls_port is not None else None
    tune_pynetdicom()
    ae = build_ae()
    host = host if host is not None else settings.BROKER_HOST
    registry.clear_cache()
    handlers = all_handlers()
    plain_server = tls_server = None
    try:
        if plain:
            plain_server = start_server(ae, (host, port if port is not None else settings.BROKER_DICOM_PORT), handlers,
                                        shared_port=shared_port)
            log.info("DICOM listener %s on %s:%s", settings.BROKER_AE_TITLE, *plain_server.server_address[:2])
        if context is not None:
            tls_server = start_server(ae, (host, tls_port), handlers, shared_port=shared_port, ssl_context=context)
            log.info("DICOM TLS listener %s on %s:%s (client certificates %s)", settings.BROKER_AE_TITLE,
                     *tls_server.server_address[:2],
                     "required, BROKER_TLS_CA" if context.verify_mode == ssl.CERT_REQUIRED else "not asked for")
    except BaseException:
        if plain_server is not None:  # the TLS port could not be bound: stop the plain one again
            plain_server.shutdown()
        raise
    return Listeners(plain_server, tls_server)


def freeze_startup_objects() -> None:
    """Exempt everything loaded at start-up (Django, pydicom's dictionaries, …) from garbage collection.

    pynetdicom's server runs a full gc.collect() every 60 associations; over the ~100,000 objects
    of a started listener that holds the GIL for 0.1-0.2 s, stalling every association. After
    gc.freeze() a collection only walks what was created since. For the listener process (rundicom),
    not for processes that start a listener among other work (tests).
    """
    gc.collect()
    gc.freeze()

