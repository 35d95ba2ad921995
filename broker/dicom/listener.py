"""Builds the broker's one pynetdicom AE from the settings and the service modules."""
import logging
import socket

from django.conf import settings
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.transport import AssociationServer

from broker.dicom.services import SERVICES

log = logging.getLogger(__name__)


def build_ae() -> AE:
    ae = AE(ae_title=settings.BROKER_AE_TITLE)
    ae.maximum_associations = settings.BROKER_DICOM_MAX_ASSOCIATIONS
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


def _set_nodelay(event):
    # Each request/response turn would otherwise wait for a delayed ACK (~40 ms) under Nagle.
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(socket, "TCP_QUICKACK"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def all_handlers() -> list:
    bound = [(evt.EVT_CONN_OPEN, _set_nodelay)]
    for service in SERVICES:
        bound.extend(service.handlers())
    return bound


def start(host: str | None = None, port: int | None = None) -> AssociationServer:
    """Start the listener in background threads; call `.shutdown()` on the result to stop it."""
    ae = build_ae()
    address = (host if host is not None else settings.BROKER_HOST, port if port is not None else settings.BROKER_DICOM_PORT)
    server = ae.start_server(address, block=False, evt_handlers=all_handlers())
    log.info("DICOM listener %s on %s:%s", settings.BROKER_AE_TITLE, *server.server_address[:2])
    return server
