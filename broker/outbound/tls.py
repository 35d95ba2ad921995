"""TLS towards the RIS and the MPPS destinations: the client context of one connection, and why TLS failed,
in the words routing uses for its destinations (broker.core.tls)."""
import ssl

from broker.core import tls
from broker.outbound.models import PeerTLS


class PeerTLSConfigurationError(Exception):
    """A TLS file of the peer's configuration cannot be used; the message names the field and the peer."""


def client_context(peer: PeerTLS, kind: str, words: str) -> ssl.SSLContext | None:
    """A fresh context for one connection to the peer (None without TLS); it remembers the first TLS error.
    `kind` names the configuration in errors ("RIS endpoint"), `words` the peer in TLS errors ("the RIS")."""
    if not peer.use_tls:
        return None
    try:
        context = tls.client_context(peer.tls_ca_file, peer.tls_cert_file, peer.tls_key_file)
    except tls.TLSConfigurationError as exc:
        raise PeerTLSConfigurationError(f"TLS configuration of {kind} {peer.name}: {exc}") from exc
    return tls.watched(context, words, client_certificate=bool(peer.tls_cert_file))


def failed(context: ssl.SSLContext | None, where: str) -> str | None:
    """"TLS with <where> failed: <why>" when TLS failed on the context's connections, else None."""
    reason = tls.failure(context) if context is not None else None
    return f"TLS with {where} failed: {reason}" if reason else None
