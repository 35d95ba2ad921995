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
    context.sslsocket_class = _WatchedSocket
    context.broker_tls_failure = None
    return context


def failure(context: ssl.SSLContext) -> str | None:
    """Why TLS failed on connections made with this context, or None when it did not."""
    return getattr(context, "broker_tls_failure", None)


def describe(exc: OSError, *, handshake: bool) -> str:
    """A TLS error (or a connection error during the handshake) as the reason shown on the job."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or str(exc)).rstrip(".")
        if "mismatch" in reason:
            return (f"certificate verification failed: {reason} (the destination's host must be a name or IP address "
                    "its certificate carries in subjectAltName)")
        return (f"certificate verification failed: {reason} (is the destination's certificate signed by the CA in "
                "tls_ca_file, and valid today?)")
    reason = getattr(exc, "reason", None) or ""
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return f"the destination requires a client certificate: set tls_cert_file and tls_key_file ({reason})"
    if reason in ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                  "SSLV3_ALERT_CERTIFICATE_EXPIRED"):
        return f"the destination did not accept the broker's client certificate ({reason})"
    if isinstance(exc, TimeoutError):
        return "no TLS handshake answer from the destination in time (is it a TLS port?)"
    if handshake and (not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLEOFError)
                      or reason == "WRONG_VERSION_NUMBER"):
        return (f"the TLS handshake failed: the destination closed the connection or did not answer in TLS ({exc}); "
                "is TLS enabled on that port?")
    return f"TLS error: {exc}"


class _WatchedSocket(ssl.SSLSocket):
    """Keeps the first TLS error on its context: pynetdicom only logs it and reports an aborted association."""

    def do_handshake(self, *args, **kwargs):
        try:
            return super().do_handshake(*args, **kwargs)
        except OSError as exc:
            self._keep(exc, handshake=True)
            raise

    def recv(self, *args, **kwargs):
        try:
            return super().recv(*args, **kwargs)
        except ssl.SSLError as exc:  # an alert after the handshake, e.g. TLS 1.3's "certificate required"
            self._keep(exc, handshake=False)
            raise

    def _keep(self, exc: OSError, *, handshake: bool) -> None:
        if getattr(self.context, "broker_tls_failure", None) is None:
            self.context.broker_tls_failure = describe(exc, handshake=handshake)
