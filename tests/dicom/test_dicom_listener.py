"""The DICOM listener: socket options, the remote AE registry at association, C-ECHO, rundicom's lifecycle."""
import os
import signal
import socket
import subprocess
import sys

from django.conf import settings as django_settings
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.core.dicom_net.association import reader_replaced, tcp_socket
from broker.dicom.models import RemoteAE
from tests.mwl.support import echo, wait_until
from tests.services import free_port


def open_association(port: int, calling_ae: str = "CT01"):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ModalityWorklistInformationFind)
    return ae.associate("127.0.0.1", port, ae_title="BROKER")


def test_it_sets_nodelay_and_acknowledges_at_once_on_accepted_sockets(server):
    assoc = open_association(server.server_address[1])
    try:
        accepted = wait_until(lambda: server.active_associations)[0]
        sock = tcp_socket(accepted)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert reader_replaced(accepted)  # reads have deadlines and re-arm TCP_QUICKACK
    finally:
        assoc.release()


def test_it_records_an_unknown_calling_ae(server):
    assert echo(server.server_address[1], calling_ae="NEWSCANNER") == 0x0000
    remote = RemoteAE.objects.get(ae_title="NEWSCANNER")
    assert remote.auto_registered and remote.last_seen is not None and remote.host == "127.0.0.1"


def test_it_refreshes_last_seen_of_a_known_ae(server):
    RemoteAE.objects.create(ae_title="CT01", description="CT room 1")
    echo(server.server_address[1], calling_ae="CT01")
    remote = RemoteAE.objects.get(ae_title="CT01")
    assert remote.last_seen is not None and not remote.auto_registered


def test_it_rejects_unknown_aes_when_told_to(server, settings):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    assoc = open_association(server.server_address[1], calling_ae="STRANGER")
    assert assoc.is_rejected
    assert RemoteAE.objects.get(ae_title="STRANGER").auto_registered  # staff see who tried


def test_it_accepts_configured_aes_when_unknown_ones_are_rejected(server, settings):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    RemoteAE.objects.create(ae_title="CT01")
    assert echo(server.server_address[1], calling_ae="CT01") == 0x0000


def test_it_refuses_echo_to_an_ae_without_the_service(server):
    RemoteAE.objects.create(ae_title="MWLONLY", allowed_services=["mwl"])
    assert echo(server.server_address[1], calling_ae="MWLONLY") == 0x0124


def test_it_runs_rundicom_until_sigterm(database_url_for_subprocess, dcmtk):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess, BROKER_DATA_DIR=str(django_settings.DATA_DIR))
    proc = subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert "DICOM listener ready" in proc.stdout.readline()
        done = subprocess.run(["echoscu", "-aet", "CT01", "-aec", "BROKER", "127.0.0.1", str(port)],
                              capture_output=True, timeout=30)
        assert done.returncode == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
