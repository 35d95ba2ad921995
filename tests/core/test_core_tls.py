"""The TLS contexts of every edge: real handshakes on loopback, and file errors that name the setting to fix."""
import socket
import ssl
import threading

import pytest

from broker.core.tls import TLSConfigurationError, client_context, server_context
from tests.certificates import CertificateAuthority


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, *, server_hostname="localhost"):
    """One TLS handshake over a real loopback socket; returns (server outcome, client outcome)."""
    listener = socket.create_server(("127.0.0.1", 0))
    outcome = {}

    def serve():
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls_conn:
                outcome["server"] = tls_conn.version()
                peer = tls_conn.getpeercert()
                outcome["client_cn"] = dict(pair[0] for pair in peer["subject"])["commonName"] if peer else None
                tls_conn.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            outcome["server"] = f"refused: {getattr(exc, 'reason', None) or exc}"

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname=server_hostname) as tls_conn:
                client_outcome = tls_conn.recv(2).decode() or "closed"
    except (ssl.SSLError, OSError) as exc:
        client_outcome = f"refused: {getattr(exc, 'reason', None) or exc}"
    thread.join(10)
    listener.close()
    return outcome.get("server"), client_outcome, outcome.get("client_cn")


@pytest.fixture
def broker_cert(ca):
    return ca.issue("broker", subject_alt_name="DNS:localhost,IP:127.0.0.1")


def test_it_serves_tls_to_a_client_that_trusts_the_ca(ca, broker_cert):
    server = server_context(*map(str, broker_cert))
    result = handshake(server, client_context(str(ca.certificate)))
    assert result[0] in ("TLSv1.2", "TLSv1.3") and result[1] == "ok" and result[2] is None


def test_it_requires_a_client_certificate_signed_by_its_ca_when_one_is_set(ca, broker_cert, tmp_path):
    server = server_context(*map(str, broker_cert), str(ca.certificate))
    modality = ca.issue("CT01", client=True)
    assert handshake(server, client_context(str(ca.certificate), *map(str, modality)))[1:] == ("ok", "CT01")

    without_certificate = handshake(server, client_context(str(ca.certificate)))
    assert without_certificate[0].startswith("refused") and without_certificate[1] != "ok"

    stranger = CertificateAuthority(tmp_path / "other", "Other CA").issue("ROGUE", client=True)
    untrusted = handshake(server, client_context(str(ca.certificate), *map(str, stranger)))
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted[0] and untrusted[1] != "ok"


def _client(ca, *, version=None, ciphers=None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(ca.certificate))
    if version:
        context.minimum_version = context.maximum_version = version
    if ciphers:
        context.set_ciphers(ciphers)
    return context


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_it_refuses_tls_1_1_and_ciphers_without_aead_that_a_permissive_server_accepts(ca, broker_cert):
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.minimum_version = ssl.TLSVersion.TLSv1_1
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    permissive.load_cert_chain(*map(str, broker_cert))
    ours = server_context(*map(str, broker_cert))
    for client in (_client(ca, version=ssl.TLSVersion.TLSv1_1, ciphers="ALL:@SECLEVEL=0"),
                   _client(ca, version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA256")):  # CBC
        assert handshake(permissive, client)[1] == "ok"  # the client can speak it: the refusal is ours
        assert handshake(ours, client)[0].startswith("refused")


def test_it_names_the_variable_of_the_file_it_cannot_use(ca, broker_cert, tmp_path):
    cert, key = map(str, broker_cert)
    other_key = str(ca.issue("other")[1])
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    cases = [
        (("", key), "BROKER_TLS_CERT is not set"),
        ((cert, ""), "BROKER_TLS_KEY is not set"),
        ((str(tmp_path / "missing.pem"), key), "BROKER_TLS_CERT"),
        ((cert, other_key), "the key in BROKER_TLS_KEY does not belong to the certificate in BROKER_TLS_CERT"),
        ((str(not_pem), key), "BROKER_TLS_CERT"),
        ((cert, key, str(not_pem)), "BROKER_TLS_CA"),
    ]
    for files, message in cases:
        with pytest.raises(TLSConfigurationError) as raised:
            server_context(*files)
        assert message in str(raised.value), (files, str(raised.value))


def test_it_names_the_field_of_a_peer_it_cannot_use(tmp_path):
    with pytest.raises(TLSConfigurationError, match="tls_key_file is set without tls_cert_file"):
        client_context("", "", str(tmp_path / "key.pem"))
    with pytest.raises(TLSConfigurationError, match=r"ris_ca_file .*missing\.pem"):
        client_context(str(tmp_path / "missing.pem"), names=("ris_ca_file", "ris_cert_file", "ris_key_file"))
