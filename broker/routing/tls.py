"""TLS towards a destination: the client context made from its CA, certificate and key files, and why a
TLS connection failed, in words a PACS administrator can act on.

The destination's certificate is verified against tls_ca_file (or the system's CAs when it is empty) and
its host name or IP address is checked against the certificate (subjectAltName); SNI carries the host name
(none is sent for an IP address). A client certificate is presented when the destination asks for one.
"""
import ssl

from broker.core import tls
from broker.core.tls import TLSConfigurationError  # noqa: F401  (raised by client_context; callers catch it here)
from broker.routing.models import Destination


def client_context(destination: Destination) -> ssl.SSLContext:
    """A fresh context for one association; it remembers the first TLS error seen on it (see failure())."""
    context = tls.client_context(destination.tls_ca_file, destination.tls_cert_file, destination.tls_key_file)
    return tls.watched(context, client_certificate=bool(destination.tls_cert_file))


failure = tls.failure  # why TLS failed on an association made with client_context(), or None (words: tls.describe)
