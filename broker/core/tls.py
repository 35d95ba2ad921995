"""TLS contexts for every edge of the broker, made the same way (DICOM PS3.15 Annex B, BCP 195 / RFC 9325).

Server contexts serve the DICOM and MLLP listeners; client contexts connect to routing destinations, MPPS
destinations and the RIS. Both speak TLS 1.2 or 1.3 only, with forward-secret AEAD ciphers, and refuse a file
they cannot use at once, with a message that names the setting to fix (an environment variable for the
listeners, a field for a configured peer).
"""
import ssl
from pathlib import Path

from django.conf import settings


class TLSConfigurationError(Exception):
    """A TLS file cannot be used: missing, unreadable, not PEM, an encrypted key, a key of another certificate."""


# RFC 9325 section 4.2: for TLS 1.2, only ephemeral key exchange with AEAD ciphers. TLS 1.3 has only such suites.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def _check_readable(files: dict[str, str]) -> None:
    for name, path in files.items():
        if path:
            try:
                Path(path).open("rb").close()
            except OSError as exc:
                raise TLSConfigurationError(f"{name} {path}: {exc.strerror or exc}") from exc


def _load_chain(context: ssl.SSLContext, cert_file: str, key_file: str, cert_name: str, key_name: str) -> None:
    def no_passphrase():
        # OpenSSL would otherwise prompt on the terminal, or block a process that has one.
        raise TLSConfigurationError(f"{key_name} is encrypted with a passphrase; the broker needs an unencrypted key "
                                    "(readable only by the broker's user)")

    try:
        context.load_cert_chain(cert_file, key_file or None, password=no_passphrase)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TLSConfigurationError(f"the key in {key_name} does not belong to the certificate in {cert_name}") from exc
        detail = f" ({exc.reason})" if exc.reason else ""
        raise TLSConfigurationError(f"{cert_name} {cert_file} / {key_name} {key_file or '(none)'}: "
                                    f"not a PEM certificate and its private key{detail}") from exc


def _load_ca(context: ssl.SSLContext, ca_file: str, ca_name: str) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as exc:
        raise TLSConfigurationError(f"{ca_name} {ca_file}: no PEM certificate in it ({exc.reason or exc})") from exc


def _trusting(ca_file: str, ca_name: str) -> ssl.SSLContext:
    # With a CA file only that CA is trusted, not the system's as well: a hospital CA names the peers it signed.
    if not ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise TLSConfigurationError(f"{ca_name} {ca_file}: no PEM certificate in it ({exc.reason or exc})") from exc


def server_context(cert_file: str, key_file: str, ca_file: str = "", *,
                   names: tuple[str, str, str] = ("BROKER_TLS_CERT", "BROKER_TLS_KEY", "BROKER_TLS_CA")) -> ssl.SSLContext:
    """The context of a TLS listener: its certificate and key; with a CA file, client certificates it signed are
    required (mutual TLS), otherwise the listener authenticates itself only."""
    cert_name, key_name, ca_name = names
    if not cert_file:
        raise TLSConfigurationError(f"{cert_name} is not set: a TLS listener needs its certificate (PEM)")
    if not key_file:
        raise TLSConfigurationError(f"{key_name} is not set: a TLS listener needs the private key of {cert_name}")
    _check_readable({cert_name: cert_file, key_name: key_file, ca_name: ca_file})
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load_chain(context, cert_file, key_file, cert_name, key_name)
    if ca_file:
        _load_ca(context, ca_file, ca_name)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca_file: str = "", cert_file: str = "", key_file: str = "", *,
                   names: tuple[str, str, str] = ("tls_ca_file", "tls_cert_file", "tls_key_file")) -> ssl.SSLContext:
    """The context of a connection to a peer: its certificate verified against the CA file (the system's CAs
    when empty) with the host name checked; a client certificate presented when given."""
    ca_name, cert_name, key_name = names
    if key_file and not cert_file:
        raise TLSConfigurationError(f"{key_name} is set without {cert_name} (the client certificate it belongs to)")
    _check_readable({ca_name: ca_file, cert_name: cert_file, key_name: key_file})
    context = _harden(_trusting(ca_file, ca_name))
    if cert_file:
        _load_chain(context, cert_file, key_file, cert_name, key_name)
    return context


def listener_context() -> ssl.SSLContext:
    """The server context of the DICOM and MLLP TLS listeners, from BROKER_TLS_CERT, _KEY and _CA."""
    return server_context(settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY, settings.BROKER_TLS_CA)


# --- why a connection failed, in words the administrator of either side can act on --------------------------

def describe(exc: OSError, *, handshake: bool, peer: str = "the destination",
             client_certificate: bool | None = None) -> str:
    """A TLS error of a connection the broker opened (or a connection error during its handshake), as the reason
    shown on the job, forward or notification. `peer` names the other side ("the destination", "the RIS");
    `client_certificate` says whether the broker presented one (None: not known)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or str(exc)).rstrip(".")
        if "mismatch" in reason:
            return (f"certificate verification failed: {reason} ({peer}'s host must be a name or IP address "
                    "its certificate carries in subjectAltName)")
        return (f"certificate verification failed: {reason} (is {peer}'s certificate signed by the CA in "
                "tls_ca_file, and valid today?)")
    reason = getattr(exc, "reason", None) or ""
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return f"{peer} requires a client certificate: set tls_cert_file and tls_key_file ({reason})"
    if reason in ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                  "SSLV3_ALERT_CERTIFICATE_EXPIRED"):
        return f"{peer} did not accept the broker's client certificate ({reason})"
    if isinstance(exc, TimeoutError):
        return f"no TLS handshake answer from {peer} in time (is it a TLS port?)"
    if not handshake and client_certificate is not None and isinstance(
            exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
        # TLS 1.3: the client's handshake ends before the server checks its certificate; a server that refuses it
        # may close without an alert the broker gets to read.
        if not client_certificate:
            return (f"{peer} closed the connection right after the TLS handshake; it probably requires a client "
                    f"certificate: set tls_cert_file and tls_key_file ({exc})")
        return (f"{peer} closed the connection right after the TLS handshake; it probably did not accept the "
                f"broker's client certificate (tls_cert_file) ({exc})")
    if handshake and (not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLEOFError)
                      or reason == "WRONG_VERSION_NUMBER"):
        return (f"the TLS handshake failed: {peer} closed the connection or did not answer in TLS ({exc}); "
                "is TLS enabled on that port?")
    return f"TLS error: {exc}"


def watched(context: ssl.SSLContext, peer: str = "the destination", *,
            client_certificate: bool | None = None) -> ssl.SSLContext:
    """The context remembers the first TLS error seen on its connections (see failure()): pynetdicom only logs
    it and reports an aborted association. One fresh context per association or connection."""
    context.sslsocket_class = _WatchedSocket
    context.broker_tls_failure = None
    context.broker_tls_failed_send = None
    context.broker_tls_peer = peer
    context.broker_tls_client_certificate = client_certificate
    return context


def failure(context: ssl.SSLContext) -> str | None:
    """Why TLS failed on connections made with this (watched) context, or None when it did not."""
    return getattr(context, "broker_tls_failure", None) or getattr(context, "broker_tls_failed_send", None)


class _WatchedSocket(ssl.SSLSocket):
    """Keeps the first TLS error on its context."""

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

    def send(self, *args, **kwargs):  # sendall sends through send
        try:
            return super().send(*args, **kwargs)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:  # closed after a refused handshake
            # Kept apart: the peer's alert, when a later read gets it, says more than the failed write.
            if getattr(self.context, "broker_tls_failed_send", None) is None:
                self.context.broker_tls_failed_send = self._describe(exc, handshake=False)
            raise

    def _keep(self, exc: OSError, *, handshake: bool) -> None:
        if getattr(self.context, "broker_tls_failure", None) is None:
            self.context.broker_tls_failure = self._describe(exc, handshake=handshake)

    def _describe(self, exc: OSError, *, handshake: bool) -> str:
        return describe(exc, handshake=handshake, peer=getattr(self.context, "broker_tls_peer", "the destination"),
                        client_certificate=getattr(self.context, "broker_tls_client_certificate", None))


# --- a listener's side: why it refused a client, and what a client that got in presented ---------------------

_NOT_TLS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LENGTH_MISMATCH",
            "PACKET_LENGTH_TOO_LONG", "WRONG_SSL_VERSION", "RECORD_LAYER_FAILURE"}
_OLD_TLS = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW"}
_CLIENT_REJECTED_US = {"SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                       "SSLV3_ALERT_CERTIFICATE_EXPIRED", "TLSV1_ALERT_DECRYPT_ERROR"}


def describe_refused_client(exc: BaseException, *, timeout: float) -> str:
    """Why a TLS listener's handshake with a client failed, for its log line and the row staff see."""
    reason = getattr(exc, "reason", None) or ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = (exc.verify_message or reason or str(exc)).rstrip(".")
        return f"the client's certificate is not trusted: {message} (is it signed by the CA in BROKER_TLS_CA, and valid today?)"
    if reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        return "the client sent no certificate, and BROKER_TLS_CA requires one (mutual TLS)"
    if reason in _NOT_TLS:
        return f"the client did not speak TLS (plain MLLP on the TLS port?) ({reason})"
    if reason in _OLD_TLS:
        return f"the client offered only TLS versions the broker refuses; TLS 1.2 or 1.3 is required ({reason})"
    if reason == "NO_SHARED_CIPHER":
        return f"no cipher in common: the broker accepts only forward-secret AEAD ciphers (BCP 195) ({reason})"
    if reason in _CLIENT_REJECTED_US:
        return f"the client did not accept the broker's certificate (BROKER_TLS_CERT) ({reason})"
    if isinstance(exc, ConnectionAbortedError | TimeoutError):
        return f"the handshake did not finish within {timeout:g} s"
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError) or not isinstance(exc, ssl.SSLError):
        return f"the client closed the connection during the handshake ({exc})"
    return f"TLS error: {reason or exc}"


def describe_session(ssl_object: ssl.SSLObject | None) -> str:
    """The accepted session for the connection's log line: version, cipher and the client certificate's subject."""
    if ssl_object is None:
        return "TLS"
    certificate = ssl_object.getpeercert() or {}
    subject = ", ".join(f"{key}={value}" for rdn in certificate.get("subject", ()) for key, value in rdn)
    who = f"client certificate {subject}" if subject else "no client certificate"
    return f"{ssl_object.version()} {ssl_object.cipher()[0]}, {who}"
