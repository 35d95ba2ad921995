"""DICOM over TLS, inbound (PS3.15 Annex B): DCMTK's echoscu, findscu and storescu with +tls against the TLS port,
mutual and server-only; every refusal seen from the refused peer, in the log, and with a good TLS peer served
at the same time; a bad certificate setting stops rundicom before anything listens."""
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from django.conf import settings as django_settings
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.core.tls import client_context
from broker.dicom import listener as dicom_listener
from broker.routing.models import StoredInstance
from tests.certificates import CertificateAuthority
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, da
from tests.routing.support import make_image
from tests.services import free_port, port_open
from tests.waiting import wait_until

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("dcmtk")]

SPS = "ScheduledProcedureStepSequence"
REFUSED = "broker.core.dicom_net.transport_limits"


class Files:
    """The broker's certificate, a modality's client certificate from the same CA, and one from another CA."""

    def __init__(self, ca: CertificateAuthority, tmp_path: Path):
        self.ca = ca.certificate
        self.broker_cert, self.broker_key = ca.issue("broker", subject_alt_name="DNS:localhost,IP:127.0.0.1")
        self.modality_cert, self.modality_key = ca.issue("modality", client=True)
        other = CertificateAuthority(tmp_path / "other-ca", name="Other CA")
        self.intruder_cert, self.intruder_key = other.issue("intruder", client=True)

    def mutual(self) -> list[str]:
        return ["+tls", str(self.modality_key), str(self.modality_cert), "+cf", str(self.ca)]

    def anonymous(self) -> list[str]:
        return ["+tla", "+cf", str(self.ca)]


@pytest.fixture
def files(ca, tmp_path):
    return Files(ca, tmp_path)


def start(settings, files: Files, *, mutual: bool):
    settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY = str(files.broker_cert), str(files.broker_key)
    settings.BROKER_TLS_CA = str(files.ca) if mutual else ""
    return dicom_listener.start_listeners("127.0.0.1", 0, 0, plain=True)


@pytest.fixture
def mutual(transactional_db, storage_dir, memory_celery, settings, files):
    """Plain and TLS listener; client certificates signed by the test CA required. Yields (plain port, TLS port)."""
    servers = start(settings, files, mutual=True)
    yield servers.plain.server_address[1], servers.tls.server_address[1]
    servers.shutdown()


@pytest.fixture
def server_only(transactional_db, storage_dir, memory_celery, settings, files):
    """Plain and TLS listener without BROKER_TLS_CA: the broker authenticates itself only."""
    servers = start(settings, files, mutual=False)
    yield servers.plain.server_address[1], servers.tls.server_address[1]
    servers.shutdown()


def echoscu(port: int, *tls: str) -> subprocess.CompletedProcess:
    return subprocess.run(["echoscu", "-aet", "CT01", "-aec", "BROKER", *tls, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=60)


class GoodPeer:
    """A pynetdicom SCU over mutual TLS that keeps its association open while another peer is refused."""

    def __init__(self, files: Files, port: int):
        ae = AE(ae_title="GOODPEER")
        ae.add_requested_context(Verification)
        context = client_context(str(files.ca), str(files.modality_cert), str(files.modality_key))
        self.assoc = ae.associate("127.0.0.1", port, ae_title="BROKER", tls_args=(context, "localhost"))
        assert self.assoc.is_established

    def echo(self) -> int:
        return self.assoc.send_c_echo().Status

    def close(self) -> None:
        self.assoc.release()


@pytest.fixture(params=["mutual", "server_only"])
def either(request, transactional_db, storage_dir, memory_celery, settings, files):
    """Each of the two: yields (TLS port, the DCMTK options of a client that it serves)."""
    servers = start(settings, files, mutual=request.param == "mutual")
    yield servers.tls.server_address[1], files.mutual() if request.param == "mutual" else files.anonymous()
    servers.shutdown()


@pytest.fixture
def good_peer(files, mutual):
    peer = GoodPeer(files, mutual[1])
    yield peer
    peer.close()


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == REFUSED and r.levelno == logging.WARNING]


def a_worklist_entry() -> None:
    patient = make_patient(name="SMITH^ANNA", patient_id="P100")
    make_step(make_procedure(make_order(patient, accession_number="A100")), sps_id="S100", station_ae_title="CT01",
              modality="CT", start=at(10, 15))


def findscu(port: int, tmp_path: Path, *tls: str) -> list[pydicom.Dataset]:
    out = tmp_path / "responses"
    out.mkdir(exist_ok=True)
    keys = ["PatientName", "PatientID", "AccessionNumber", f"{SPS}[0].ScheduledStationAETitle=CT01",
            f"{SPS}[0].ScheduledProcedureStepStartDate={da()}", f"{SPS}[0].ScheduledProcedureStepID"]
    argv = ["findscu", "-W", "-aet", "CT01", "-aec", "BROKER", "-X", "-od", str(out), *tls]
    for key in keys:
        argv += ["-k", key]
    done = subprocess.run([*argv, "127.0.0.1", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def storescu(port: int, path: Path, *tls: str) -> subprocess.CompletedProcess:
    return subprocess.run(["storescu", "-aet", "CT01", "-aec", "BROKER", *tls, "127.0.0.1", str(port), str(path)],
                          capture_output=True, text=True, timeout=60)


# --- served over TLS -----------------------------------------------------------------------------

def test_it_answers_echoscu_over_mutual_tls(mutual, files):
    done = echoscu(mutual[1], *files.mutual())
    assert done.returncode == 0, done.stderr


def test_it_answers_echoscu_over_server_only_tls(server_only, files):
    done = echoscu(server_only[1], *files.anonymous())
    assert done.returncode == 0, done.stderr


def test_it_keeps_serving_plain_dicom_on_the_plain_port(mutual):
    done = echoscu(mutual[0])
    assert done.returncode == 0, done.stderr


def test_it_answers_findscu_over_tls_with_the_order(either, tmp_path):
    port, options = either
    a_worklist_entry()
    [rsp] = findscu(port, tmp_path, *options)
    assert (rsp.PatientName, rsp.PatientID, rsp.AccessionNumber) == ("SMITH^ANNA", "P100", "A100")
    assert rsp[SPS][0].ScheduledProcedureStepID == "S100"


def test_it_stores_storescu_over_tls(either, tmp_path, storage_dir):
    port, options = either
    image = make_image(tmp_path / "ct.dcm", study_uid=generate_uid(), series_uid=generate_uid(), rows=64, columns=64)
    done = storescu(port, image, *options)
    assert done.returncode == 0, done.stderr
    sent = pydicom.dcmread(image)
    stored = StoredInstance.objects.get(sop_instance_uid=sent.SOPInstanceUID)
    assert stored.calling_ae == "CT01"
    assert pydicom.dcmread(Path(storage_dir) / stored.path).PixelData == sent.PixelData


# --- refused, while a good TLS peer is served ---------------------------------------------------------

def test_it_refuses_a_client_certificate_of_another_ca(mutual, files, good_peer, caplog):
    done = echoscu(mutual[1], "+tls", str(files.intruder_key), str(files.intruder_cert), "+cf", str(files.ca))
    assert done.returncode != 0
    assert "Association Request Failed" in done.stderr
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("not signed by BROKER_TLS_CA" in line for line in refusals(caplog)))
    assert echoscu(mutual[1], *files.mutual()).returncode == 0


def test_it_refuses_a_client_without_a_certificate_when_the_ca_is_set(mutual, files, good_peer, caplog):
    done = echoscu(mutual[1], *files.anonymous())
    assert done.returncode != 0
    assert "Association Request Failed" in done.stderr
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("sent no client certificate" in line for line in refusals(caplog)))


def test_it_aborts_plain_dicom_on_the_tls_port(mutual, files, good_peer, caplog):
    done = echoscu(mutual[1])
    assert done.returncode != 0
    assert "Peer aborted Association" in done.stderr  # a plain A-ABORT, not a silent close
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("plain DICOM association request to the TLS port" in line for line in refusals(caplog)))


def test_it_aborts_tls_on_the_plain_port(mutual, files, good_peer, caplog):
    done = echoscu(mutual[0], *files.mutual())
    assert done.returncode != 0
    assert "TLS error" in done.stderr
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("0x16 (a TLS handshake: this port speaks plain DICOM" in line for line in refusals(caplog)))
    assert echoscu(mutual[0]).returncode == 0


def test_it_refuses_a_tls_1_1_client(mutual, files, good_peer, caplog):
    done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{mutual[1]}", "-tls1_1",
                           "-cipher", "DEFAULT@SECLEVEL=0", "-cert", str(files.modality_cert),
                           "-key", str(files.modality_key)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "alert protocol version" in done.stderr
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("only TLS versions older than 1.2" in line for line in refusals(caplog)))


def test_it_refuses_a_client_without_a_bcp_195_cipher(mutual, files, good_peer, caplog):
    done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{mutual[1]}", "-tls1_2",
                           "-cipher", "AES128-SHA", "-cert", str(files.modality_cert), "-key", str(files.modality_key)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "alert handshake failure" in done.stderr
    assert good_peer.echo() == 0x0000
    wait_until(lambda: any("no cipher of BCP 195" in line for line in refusals(caplog)))


def test_the_association_caps_count_both_ports(settings, mutual, files, good_peer):
    settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE = 1
    ae = AE(ae_title="GOODPEER")
    ae.add_requested_context(Verification)
    second = ae.associate("127.0.0.1", mutual[0], ae_title="BROKER")  # the same AE on the plain port
    assert second.is_rejected
    assert good_peer.echo() == 0x0000
    good_peer.close()

    def served_on_the_plain_port() -> bool:
        assoc = ae.associate("127.0.0.1", mutual[0], ae_title="BROKER")
        served = assoc.is_established and assoc.send_c_echo().Status == 0x0000
        assoc.release()
        return served

    wait_until(served_on_the_plain_port, timeout=10)  # once the TLS association's thread has ended


def test_connections_in_their_handshake_count_against_the_connection_cap(settings, mutual, files):
    settings.BROKER_DICOM_MAX_CONNECTIONS = 2
    silent = [socket.create_connection(("127.0.0.1", mutual[1]), timeout=10) for _ in range(2)]
    try:
        with socket.create_connection(("127.0.0.1", mutual[1]), timeout=10) as third:
            third.settimeout(5)
            assert third.recv(100) == b""  # closed at once, not after BROKER_DICOM_ACSE_TIMEOUT
    finally:
        for connection in silent:
            connection.close()
    wait_until(lambda: echoscu(mutual[1], *files.mutual()).returncode == 0, timeout=20)


@pytest.mark.parametrize("sends, why", [
    (b"", "sent nothing within 1 s"),
    (bytes([0x16, 0x03, 0x01, 0x02, 0x00]), "did not finish the TLS handshake within 1 s"),  # a ClientHello begun
])
def test_it_cuts_off_a_client_that_stalls_before_or_in_the_handshake(settings, mutual, files, caplog, sends, why):
    settings.BROKER_DICOM_ACSE_TIMEOUT = 1
    with socket.create_connection(("127.0.0.1", mutual[1]), timeout=10) as stalled:
        stalled.sendall(sends)
        # While it stalls, a good TLS peer is served.
        assert echoscu(mutual[1], *files.mutual()).returncode == 0
        stalled.settimeout(5)
        assert stalled.recv(100) == b""  # closed by the broker, within the deadline
    wait_until(lambda: any(why in line for line in refusals(caplog)))


# --- start-up ----------------------------------------------------------------------------------

def rundicom(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", *args],
                            cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture
def env(database_url_for_subprocess, files):
    return dict(os.environ, DATABASE_URL=database_url_for_subprocess, BROKER_DATA_DIR=str(django_settings.DATA_DIR),
                BROKER_TLS_CERT=str(files.broker_cert), BROKER_TLS_KEY=str(files.broker_key),
                BROKER_TLS_CA=str(files.ca))


@pytest.mark.slow
@pytest.mark.parametrize("key, message", [
    ("intruder", "the key in BROKER_TLS_KEY does not belong to the certificate in BROKER_TLS_CERT"),
    ("missing", "BROKER_TLS_KEY /nonexistent/broker.key: No such file or directory"),
])
def test_it_stops_rundicom_on_a_bad_tls_key_before_anything_listens(env, files, key, message):
    plain, tls = free_port(), free_port()
    bad = str(files.intruder_key) if key == "intruder" else "/nonexistent/broker.key"
    env.update(BROKER_TLS_KEY=bad, BROKER_DICOM_TLS_PORT=str(tls))
    proc = rundicom(env, "--port", str(plain))
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"DICOM TLS listener not started: {message}" in err
    assert "ready" not in out
    assert not port_open("127.0.0.1", plain) and not port_open("127.0.0.1", tls)


@pytest.mark.slow
def test_it_stops_rundicom_when_the_plain_port_is_closed_without_a_tls_port(env):
    env.update(BROKER_DICOM_PLAIN="false")
    env.pop("BROKER_DICOM_TLS_PORT", None)
    proc = rundicom(env, "--port", str(free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "BROKER_DICOM_PLAIN=false" in err and "BROKER_DICOM_TLS_PORT" in err


@pytest.mark.slow
def test_it_serves_tls_only_from_two_processes_when_the_plain_port_is_closed(env, files):
    plain = free_port()
    env.update(BROKER_DICOM_PLAIN="false")
    proc = rundicom(env, "--port", str(plain), "--tls-port", "0", "--processes", "2")
    try:
        ready = re.search(r"DICOM listener ready on TLS 127\.0\.0\.1:(\d+) \(pid (\d+) (\d+)\)", proc.stdout.readline())
        assert ready, proc.stderr.read() if proc.poll() is not None else "no ready line"
        for _ in range(4):
            done = echoscu(int(ready.group(1)), *files.mutual())
            assert done.returncode == 0, done.stderr
        assert not port_open("127.0.0.1", plain)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
