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
