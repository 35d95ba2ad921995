"""MLLP over TLS (issue 9 item 2): real handshakes on loopback with certificates made by the test, a Python MLLP
client and `openssl s_client` as senders, and every refusal as the refused peer sees it, with a good TLS sender
served at the same time."""
import logging
import re
import select
import socket
import ssl
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from broker.core.hl7v2.mllp import MLLPClient, frame
from broker.core.tls import client_context
from broker.hl7.models import HL7Message
from broker.hl7.server import start_server
from tests.certificates import CertificateAuthority, openssl
from tests.hl7.support import BASE_DIR, ListenerProcess, msa, orm, pid, wait_until
from worklist.models import ScheduledProcedureStep

END = b"\x1c\r"


@pytest.fixture
def broker_certificate(ca):
    return ca.issue("broker", subject_alt_name="DNS:localhost,IP:127.0.0.1")


@pytest.fixture
def ris_certificate(ca):
    return ca.issue("RIS01", client=True)


def listener_settings(settings, ca, broker_certificate, *, mutual: bool):
    settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY = map(str, broker_certificate)
    settings.BROKER_TLS_CA = str(ca.certificate) if mutual else ""


@pytest.fixture
def mutual_listener(transactional_db, settings, ca, broker_certificate):
    """Plain MLLP and MLLP over TLS with client certificates required (BROKER_TLS_CA set)."""
    listener_settings(settings, ca, broker_certificate, mutual=True)
    running = start_server("127.0.0.1", 0, block=False, tls_port=0, frame_timeout=2.0, idle_timeout=10.0)
    yield running
    running.shutdown()


@pytest.fixture
def server_only_listener(transactional_db, settings, ca, broker_certificate):
    """MLLP over TLS authenticating the broker only (no BROKER_TLS_CA)."""
    listener_settings(settings, ca, broker_certificate, mutual=False)
    running = start_server("127.0.0.1", 0, block=False, tls_port=0, frame_timeout=2.0, idle_timeout=10.0)
    yield running
    running.shutdown()


def ris_context(ca, certificate=None) -> ssl.SSLContext:
    cert, key = certificate or ("", "")
    return client_context(str(ca.certificate), str(cert), str(key))


def order(n: str) -> bytes:
    return orm(placer=f"PL{n}", accession=f"ACC{n}", patient=pid(f"PAT{n}"))


def refusal_rows() -> list[str]:
    return list(HL7Message.objects.filter(outcome=HL7Message.Outcome.REJECTED).values_list("error_text", flat=True))


class GoodSender:
    """A RIS with a trusted client certificate, connected before a refused peer tries and served after it."""

    def __init__(self, listener, ca, certificate):
        self.listener = listener
        self.client = MLLPClient("127.0.0.1", listener.tls_port, timeout=10,
                                 ssl_context=ris_context(ca, certificate)).connect()
        self.sent = 0
        assert self.send_order()

    def send_order(self) -> bool:
        self.sent += 1
        ack = self.client.send(order(f"GOOD{self.sent}"))
        return msa(ack)[0] == "AA"

    def close(self):
        self.client.close()


@pytest.fixture
def good_sender(mutual_listener, ca, ris_certificate):
    sender = GoodSender(mutual_listener, ca, ris_certificate)
    yield sender
    assert sender.send_order(), "the good sender's open connection was not served after the refusal"
    with MLLPClient("127.0.0.1", mutual_listener.tls_port, timeout=10,
                    ssl_context=ris_context(ca, ris_certificate)) as fresh:
        assert msa(fresh.send(order("FRESH")))[0] == "AA", "a new good connection was not served after the refusal"
    sender.close()


# asyncio closes a connection whose server handshake failed without sending OpenSSL's alert: a refused client
# sees its connection closed (during the handshake, or on its first read under TLS 1.3), and no ACK.
CLOSED = {"no reply", "ConnectionError", "ConnectionResetError", "BrokenPipeError", "UNEXPECTED_EOF_WHILE_READING",
          "EOF", "SSLEOFError"}


def what_the_peer_sees(action) -> str:
    """The refused peer's view: the TLS alert or error it got, or how its connection ended."""
    try:
        reply = action()
    except ssl.SSLError as exc:
        return exc.reason or type(exc).__name__
    except (ConnectionError, OSError) as exc:
        return type(exc).__name__
    return "no reply" if not reply else f"reply {reply[:20]!r}"


# --- served -------------------------------------------------------------------------------------------------------

def test_it_acknowledges_an_order_sent_over_tls_and_puts_it_in_the_worklist(server_only_listener, ca):
    with MLLPClient("127.0.0.1", server_only_listener.tls_port, ssl_context=ris_context(ca)) as client:
        ack = client.send(orm(placer="TLS1", accession="TLSACC1", patient=pid("TLSPAT1"), control_id="TLS-0001"))

    assert msa(ack) == ("AA", "TLS-0001")
    step = ScheduledProcedureStep.objects.get(requested_procedure__order__accession_number="TLSACC1")
    assert step.status == "SCHEDULED"
    assert HL7Message.objects.get(control_id="TLS-0001").peer.startswith("127.0.0.1:")


def test_it_serves_plain_mllp_and_tls_side_by_side(server_only_listener, ca):
    with MLLPClient("127.0.0.1", server_only_listener.port) as plain, \
            MLLPClient("127.0.0.1", server_only_listener.tls_port, ssl_context=ris_context(ca)) as encrypted:
        assert msa(plain.send(order("PLAIN")))[0] == "AA"
        assert msa(encrypted.send(order("TLS")))[0] == "AA"
    assert server_only_listener.port != server_only_listener.tls_port


def test_it_answers_openssl_s_client_with_the_ack(mutual_listener, ca, ris_certificate):
    cert, key = ris_certificate
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{mutual_listener.tls_port}", "-quiet",
               "-verify_return_error", "-CAfile", str(ca.certificate), "-cert", str(cert), "-key", str(key)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(frame(orm(placer="OSSL1", accession="OSSLACC1", patient=pid("OSSLPAT"), control_id="OSSL-1")))
        proc.stdin.flush()
        reply, deadline = b"", time.monotonic() + 20
        while not reply.endswith(END) and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break
                reply += chunk
    finally:
        proc.kill()
        stderr = proc.communicate(timeout=10)[1].decode(errors="replace")
    assert reply.endswith(END), f"no ACK from the TLS port; s_client said: {stderr}"
    assert msa(reply[1:-2]) == ("AA", "OSSL-1")
    assert ScheduledProcedureStep.objects.filter(requested_procedure__order__accession_number="OSSLACC1").exists()


def test_it_accepts_a_client_certificate_signed_by_its_ca_and_logs_who_it_was(mutual_listener, ca, ris_certificate,
                                                                              caplog):
    caplog.set_level(logging.INFO, logger="broker.hl7.server")
    with MLLPClient("127.0.0.1", mutual_listener.tls_port, ssl_context=ris_context(ca, ris_certificate)) as client:
        assert msa(client.send(order("MUTUAL")))[0] == "AA"
    assert re.search(r"connection 127\.0\.0\.1:\d+: TLSv1\.[23] \S+, client certificate commonName=RIS01", caplog.text)


# --- refused, with a good sender served at the same time ----------------------------------------------------------

def test_it_refuses_a_client_certificate_another_ca_signed(good_sender, mutual_listener, ca, tmp_path, caplog):
    stranger = CertificateAuthority(tmp_path / "other", "Other CA").issue("ROGUE", client=True)
    with socket.create_connection(("127.0.0.1", mutual_listener.tls_port), timeout=10) as raw:
        def send():
            with ris_context(ca, stranger).wrap_socket(raw, server_hostname="127.0.0.1") as conn:
                conn.sendall(frame(order("ROGUE")))
                return conn.recv(100)
        seen = what_the_peer_sees(send)

    assert seen in CLOSED
    wait_until(lambda: refusal_rows(), timeout=10)
    assert refusal_rows() == ["TLS handshake refused on the MLLP TLS port: the client's certificate is not trusted: "
                              "unable to get local issuer certificate (is it signed by the CA in BROKER_TLS_CA, and "
                              "valid today?); connection closed"]
    assert "the client's certificate is not trusted" in caplog.text
    assert not ScheduledProcedureStep.objects.filter(requested_procedure__order__accession_number="ACCROGUE").exists()


def test_it_refuses_a_client_without_a_certificate_when_the_ca_is_set(good_sender, mutual_listener, ca, caplog):
    def send():
        with MLLPClient("127.0.0.1", mutual_listener.tls_port, ssl_context=ris_context(ca)) as client:
            return client.send(order("NOCERT"))
    seen = what_the_peer_sees(send)

    assert seen in CLOSED
    wait_until(lambda: refusal_rows(), timeout=10)
    assert refusal_rows() == ["TLS handshake refused on the MLLP TLS port: the client sent no certificate, and "
                              "BROKER_TLS_CA requires one (mutual TLS); connection closed"]
    assert "the client sent no certificate" in caplog.text


def test_it_refuses_plain_mllp_on_the_tls_port(good_sender, mutual_listener, caplog):
    def send():
        with MLLPClient("127.0.0.1", mutual_listener.tls_port) as client:
            return client.send(order("PLAINONTLS"))
    seen = what_the_peer_sees(send)

    assert seen in CLOSED
    wait_until(lambda: refusal_rows(), timeout=10)
    rows = refusal_rows()
    assert len(rows) == 1 and rows[0].startswith("TLS handshake refused on the MLLP TLS port: the client did not speak "
                                                 "TLS (plain MLLP on the TLS port?)")
    assert "did not speak TLS" in caplog.text
    assert not ScheduledProcedureStep.objects.filter(requested_procedure__order__accession_number="ACCPLAINONTLS").exists()


def test_it_refuses_tls_on_the_plain_port_at_once(good_sender, mutual_listener, ca, ris_certificate, caplog):
    started = time.monotonic()

    def send():
        with MLLPClient("127.0.0.1", mutual_listener.port, ssl_context=ris_context(ca, ris_certificate)) as client:
            return client.send(order("TLSONPLAIN"))
    seen = what_the_peer_sees(send)

    assert seen in CLOSED
    assert time.monotonic() - started < 1.5  # closed at once, not at the frame deadline
    wait_until(lambda: refusal_rows(), timeout=10)
    assert refusal_rows() == [f"a TLS handshake on the plain MLLP port (the TLS port is {mutual_listener.tls_port}); "
                              "connection closed"]
    assert "a TLS handshake on the plain MLLP port" in caplog.text


def test_it_refuses_tls_1_1(good_sender, mutual_listener, ca, ris_certificate, caplog):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(ca.certificate))
    old.load_cert_chain(*map(str, ris_certificate))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 would not even offer TLS 1.1 otherwise
    with pytest.warns(DeprecationWarning):  # as it should be
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1

    def send():
        with MLLPClient("127.0.0.1", mutual_listener.tls_port, ssl_context=old) as client:
            return client.send(order("TLS11"))
    seen = what_the_peer_sees(send)

    assert seen in CLOSED
    wait_until(lambda: refusal_rows(), timeout=10)
    rows = refusal_rows()
    assert len(rows) == 1 and rows[0].startswith("TLS handshake refused on the MLLP TLS port: the client offered only "
                                                 "TLS versions the broker refuses; TLS 1.2 or 1.3 is required")
    assert "TLS 1.2 or 1.3 is required" in caplog.text


def test_it_closes_a_handshake_that_never_finishes_and_frees_its_slot(good_sender, mutual_listener):
    with socket.create_connection(("127.0.0.1", mutual_listener.tls_port), timeout=10) as silent:
        wait_until(lambda: sum(mutual_listener.server._per_address.values()) == 2, timeout=5)  # counted in at once
        assert silent.recv(100) == b""  # closed at the frame deadline (2 s here), without a byte sent

    wait_until(lambda: refusal_rows(), timeout=10)
    assert refusal_rows() == ["TLS handshake refused on the MLLP TLS port: the handshake did not finish within 2 s; "
                              "connection closed"]
    # Only the good sender's connection is left: the slot is freed just after the refusal row is written.
    wait_until(lambda: sum(mutual_listener.server._per_address.values()) == 1, timeout=5)


def test_it_stops_at_once_while_a_handshake_is_pending(transactional_db, settings, ca, broker_certificate):
    listener_settings(settings, ca, broker_certificate, mutual=True)
    running = start_server("127.0.0.1", 0, block=False, tls_port=0, frame_timeout=30.0)
    with socket.create_connection(("127.0.0.1", running.tls_port), timeout=10) as silent:
        wait_until(lambda: sum(running.server._per_address.values()) == 1, timeout=5)
        started = time.monotonic()
        running.shutdown()
        assert time.monotonic() - started < 5  # not the 30 s handshake deadline
        assert silent.recv(100) == b""


# --- runhl7 -------------------------------------------------------------------------------------------------------

def test_runhl7_listens_on_both_ports_and_names_them_in_its_ready_line(database_url_for_subprocess, ca,
                                                                       broker_certificate, ris_certificate):
    cert, key = broker_certificate
    child = ListenerProcess(database_url_for_subprocess, {"BROKER_HL7_TLS_PORT": "0", "BROKER_TLS_CERT": str(cert),
                                                          "BROKER_TLS_KEY": str(key), "BROKER_TLS_CA": str(ca.certificate)})
    try:
        ready = re.search(r"HL7 listener ready on 127\.0\.0\.1:(\d+) \(MLLP\), 127\.0\.0\.1:(\d+) "
                          r"\(MLLP over TLS, client certificates required\)", child.lines[-1])
        assert ready, child.lines
        assert int(ready.group(1)) == child.port
        with MLLPClient("127.0.0.1", int(ready.group(2)), ssl_context=ris_context(ca, ris_certificate)) as client:
            assert msa(client.send(order("CHILD")))[0] == "AA"
        assert child.stop() == 0
    finally:
        if child.proc.poll() is None:
            child.proc.kill()


def runhl7_refusing_to_start(env: dict, *args) -> str:
    import os

    result = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), "runhl7", "--host", "127.0.0.1", "--port",
                             "0", *args], cwd=BASE_DIR, env=dict(os.environ, **env), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0, result.stdout
    assert "HL7 listener ready" not in result.stdout
    return result.stderr


def test_runhl7_does_not_start_with_a_key_of_another_certificate(ca, broker_certificate, tmp_path):
    cert, _ = broker_certificate
    _, other_key = ca.issue("other")
    stderr = runhl7_refusing_to_start({"BROKER_TLS_CERT": str(cert), "BROKER_TLS_KEY": str(other_key)}, "--tls-port", "0")
    assert ("HL7 listener not started: the key in BROKER_TLS_KEY does not belong to the certificate in "
            "BROKER_TLS_CERT") in stderr


def test_runhl7_does_not_start_with_an_unreadable_or_encrypted_key(ca, broker_certificate, tmp_path):
    cert, key = broker_certificate
    stderr = runhl7_refusing_to_start({"BROKER_HL7_TLS_PORT": "0", "BROKER_TLS_CERT": str(cert),
                                       "BROKER_TLS_KEY": str(tmp_path / "missing.key")})
    assert f"HL7 listener not started: BROKER_TLS_KEY {tmp_path / 'missing.key'}: No such file or directory" in stderr

    encrypted = tmp_path / "encrypted.key"
    openssl("ec", "-in", key, "-aes256", "-passout", "pass:secret", "-out", encrypted)
    stderr = runhl7_refusing_to_start({"BROKER_HL7_TLS_PORT": "0", "BROKER_TLS_CERT": str(cert),
                                       "BROKER_TLS_KEY": str(encrypted)})
    assert "BROKER_TLS_KEY is encrypted with a passphrase" in stderr


def test_runhl7_closes_the_plain_port_when_told_and_serves_tls(database_url_for_subprocess, ca, broker_certificate):
    cert, key = broker_certificate
    child = ListenerProcess(database_url_for_subprocess, {"BROKER_HL7_PLAIN": "false", "BROKER_HL7_TLS_PORT": "0",
                                                          "BROKER_TLS_CERT": str(cert), "BROKER_TLS_KEY": str(key)})
    try:
        assert re.search(r"HL7 listener ready on 127\.0\.0\.1:\d+ \(MLLP over TLS\)$", child.lines[-1].strip())
        with MLLPClient("127.0.0.1", child.port, ssl_context=ris_context(ca)) as client:  # the only port: TLS
            assert msa(client.send(order("TLSONLY")))[0] == "AA"
        assert child.stop() == 0
    finally:
        if child.proc.poll() is None:
            child.proc.kill()


def test_runhl7_refuses_to_close_the_plain_port_without_a_tls_port(settings):
    settings.BROKER_HL7_PLAIN = False
    settings.BROKER_HL7_TLS_PORT = None
    with pytest.raises(CommandError, match="BROKER_HL7_PLAIN=false closes the plain MLLP port but BROKER_HL7_TLS_PORT "
                                           "is not set"):
        call_command("runhl7", "--port", "0")
