"""Associations the router opens to destinations and archives, and the errors a delivery attempt ends with."""
import socket

from django.conf import settings
from pydicom.uid import UID
from pynetdicom import AE, evt

from broker.core import identity
from broker.core.dicom_net import version
from broker.core.dicom_net.association import keep_responses_for_the_sender, tcp_socket
from broker.routing import tls
from broker.routing.models import Destination


class DeliveryError(Exception):
    """The job did not finish: retried with backoff up to BROKER_ROUTING_MAX_ATTEMPTS."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (nothing acceptable can be offered): the job waits for an operator."""


def sop_class_words(uid: str) -> str:
    """A SOP class as staff read it: its name, or the UID said to be private / not in the standard."""
    name = UID(uid).name
    if name != uid:
        return name
    return f"{uid} (private, not in the DICOM standard)" if UID(uid).is_private else f"{uid} (not a standard SOP class)"


ROUTING_MAX_PDU = 0  # unlimited on our side; the peer's limit applies to what we send


def application_entity() -> AE:
    ae = identity.application_entity(settings.BROKER_AE_TITLE)
    ae.acse_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.dimse_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.network_timeout = settings.BROKER_ROUTING_TIMEOUT
    # Also bounds the TLS handshake: without it a peer that accepts and never answers holds the worker forever.
    ae.connection_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.maximum_pdu_size = ROUTING_MAX_PDU
    return ae


def _tls_args(destination: Destination):
    if not destination.use_tls:
        return None
    try:
        context = tls.client_context(destination)
    except tls.TLSConfigurationError as exc:
        raise PermanentDeliveryError(f"TLS configuration of destination {destination.name}: {exc}") from exc
    return context, destination.host  # the host is checked against the certificate and sent as SNI


def no_delay(event) -> None:
    # Each C-STORE request/response turn would otherwise wait ~40 ms for a delayed ACK under Nagle.
    sock = tcp_socket(event.assoc)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def require_tested_pynetdicom() -> None:
    """The router's version gate (dicom_net.version): on an untested pynetdicom no association is opened and
    the job waits for an operator with the reason in its error (BROKER_PYNETDICOM_UNTESTED=allow overrides)."""
    try:
        version.require_tested()
    except version.UntestedPynetdicom as exc:
        raise PermanentDeliveryError(str(exc)) from exc


def associate(ae: AE, destination: Destination):
    require_tested_pynetdicom()
    tls_args = _tls_args(destination)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title, tls_args=tls_args,
                         evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)])
    if assoc.is_established:
        keep_responses_for_the_sender(assoc)
        return assoc
    if tls_args and (reason := tls.failure(tls_args[0])):
        raise DeliveryError(f"TLS with {destination.ae_title}@{destination.host}:{destination.port} failed: {reason}")
    if assoc.is_rejected:
        result = assoc.acceptor.primitive.result if assoc.acceptor.primitive else None
        kind = "permanently" if result == 1 else "transiently"
        raise DeliveryError(f"{destination.ae_title}@{destination.host}:{destination.port} rejected the association {kind}")
    answer = assoc.acceptor.primitive
    if answer is not None and answer.result == 0x00:
        # Associated, but the peer accepted none of our contexts (pynetdicom then aborts).
        classes = sorted({sop_class_words(cx.abstract_syntax) for cx in ae.requested_contexts})
        raise PermanentDeliveryError(f"the destination accepted no context for SOP class {', '.join(classes)}")
    # pynetdicom reports a refused connection as an abort too: a plain TCP connect tells which it was.
    raise DeliveryError(unreachable(destination))


def where(destination: Destination) -> str:
    return f"{destination.name} at {destination.host}:{destination.port}"


def connection_problem(host: str, port: int, timeout: float) -> str:
    """Why a TCP connection to host:port fails, in words ("connection refused"); "" when it opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout:.0f} s"
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def unreachable(destination: Destination) -> str:
    """The words for a destination that did not associate: could not connect (and why), or it hung up."""
    problem = connection_problem(destination.host, destination.port, min(settings.BROKER_ROUTING_TIMEOUT, 10))
    if problem:
        return f"could not connect to {where(destination)}: {problem}"
    return (f"could not associate with {where(destination)} (AE {destination.ae_title}): the connection opened "
            "but was closed or timed out before the association was accepted")
