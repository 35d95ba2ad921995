"""pynetdicom's room (broker/core/dicom_net): the version gate at listener start and before the router
associates, and the named accessors on real associations."""
import os
import subprocess
import sys

import pynetdicom
import pytest
from django.conf import settings as django_settings
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.core.dicom_net import version
from broker.core.dicom_net.association import is_connected, queued_pdus, reader_replaced, server_of, tcp_socket
from broker.core.dicom_net.find_response import install_find_response_shortcut
from broker.dicom import listener as dicom_listener
from broker.routing import delivery
from broker.routing.models import Destination, RoutingJob, RoutingRule
from tests.routing.support import StoreSCP, make_study, receive_and_complete
from tests.services import free_port, port_open
from tests.waiting import wait_until

UNTESTED = "9.9.0"
PINNED = "3.0.4"


@pytest.fixture
def untested_pynetdicom(monkeypatch):
    monkeypatch.setattr(pynetdicom, "__version__", UNTESTED)


# --- the gate ------------------------------------------------------------------------------------

def test_it_pins_the_version_requirements_txt_installs():
    requirements = (django_settings.BASE_DIR / "requirements.txt").read_text().splitlines()
    assert f"pynetdicom=={version.TESTED_VERSIONS[0]}" in requirements
    assert version.TESTED_VERSIONS[0] == PINNED


def test_it_allows_the_pinned_version():
    assert version.installed_version() == PINNED
    assert version.problem() == ""
    version.require_tested(allow=False)  # no exception


def test_it_refuses_an_untested_version_naming_both_and_the_way_out(untested_pynetdicom):
    with pytest.raises(version.UntestedPynetdicom) as refused:
        version.require_tested(allow=False)
    message = str(refused.value)
    assert f"pynetdicom {UNTESTED} is installed" in message
    assert f"tested with pynetdicom {PINNED} only" in message
    assert "pip install -r requirements.txt" in message and "BROKER_PYNETDICOM_UNTESTED=allow" in message


def test_it_runs_an_untested_version_with_one_warning_when_allowed(untested_pynetdicom, settings, caplog):
    settings.BROKER_PYNETDICOM_UNTESTED = "allow"
    version.require_tested()
    version.require_tested()  # the router checks before every association: warned once, not each time
    assert [r.levelname for r in caplog.records if UNTESTED in r.getMessage()] == ["WARNING"]


def test_it_leaves_pynetdicoms_own_find_responses_on_an_untested_version(untested_pynetdicom):
    assert install_find_response_shortcut() is False


def test_it_does_not_open_the_port_on_an_untested_version(untested_pynetdicom, transactional_db):
    port = free_port()
    with pytest.raises(version.UntestedPynetdicom):
        dicom_listener.start("127.0.0.1", port)
    assert not port_open("127.0.0.1", port)


def rundicom_with_version(fake_version: str, port: int, database_url: str, **env) -> subprocess.Popen:
    """manage.py rundicom in a child process whose pynetdicom reports `fake_version`."""
    script = ("import runpy, sys, pynetdicom; pynetdicom.__version__ = sys.argv[1]; "
              "sys.argv = ['manage.py', 'rundicom', '--host', '127.0.0.1', '--port', sys.argv[2]]; "
              "runpy.run_path('manage.py', run_name='__main__')")
    environment = dict(os.environ, DATABASE_URL=database_url, BROKER_DATA_DIR=str(django_settings.DATA_DIR), **env)
    return subprocess.Popen([sys.executable, "-c", script, fake_version, str(port)], cwd=django_settings.BASE_DIR,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_it_stops_rundicom_with_the_message_on_an_untested_version(database_url_for_subprocess):
    port = free_port()
    proc = rundicom_with_version(UNTESTED, port, database_url_for_subprocess)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert f"CommandError: pynetdicom {UNTESTED} is installed, but the broker is tested with pynetdicom {PINNED}" in err
    assert "BROKER_PYNETDICOM_UNTESTED=allow" in err
    assert "Traceback" not in err and "ready" not in out


def test_it_starts_rundicom_on_an_untested_version_when_allowed(database_url_for_subprocess):
    port = free_port()
    proc = rundicom_with_version(UNTESTED, port, database_url_for_subprocess, BROKER_PYNETDICOM_UNTESTED="allow")
    try:
        assert "DICOM listener ready" in proc.stdout.readline()
        assert echo_status(port) == 0x0000  # answered by pynetdicom's own C-ECHO path
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_it_refuses_a_routing_job_on_an_untested_version_and_sends_nothing(broker_listener, tmp_path, settings,
                                                                          monkeypatch):
    settings.BROKER_ROUTING_SENDER = "pynetdicom"
    scp = StoreSCP(tmp_path / "pacs").start()
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    study = receive_and_complete(broker_listener, make_study(tmp_path / "study", count=1))
    job = RoutingJob.objects.get(study=study)
    monkeypatch.setattr(pynetdicom, "__version__", UNTESTED)

    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP  # waits for an operator

    job.refresh_from_db()
    assert f"pynetdicom {UNTESTED} is installed" in job.last_error and "BROKER_PYNETDICOM_UNTESTED" in job.last_error
    assert scp.received() == {}
    scp.stop()


# --- the accessors on a real association -----------------------------------------------------------

def echo_status(port: int) -> int:
    ae = AE(ae_title="CT01")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    try:
        return assoc.send_c_echo().Status
    finally:
        assoc.release()


@pytest.fixture
def server(transactional_db):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server
    server.shutdown()


def test_it_names_the_server_socket_and_queue_of_an_accepted_association(server):
    ae = AE(ae_title="CT01")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", server.server_address[1], ae_title="BROKER")
    try:
        assert assoc.send_c_echo().Status == 0x0000
        accepted = wait_until(lambda: server.active_associations)[0]
        assert server_of(accepted) is server
        assert is_connected(accepted) and reader_replaced(accepted)
        assert tcp_socket(accepted).getpeername()[1] == tcp_socket(assoc).getsockname()[1]
        assert wait_until(lambda: queued_pdus(accepted) == 0, 10)  # the C-ECHO-RSP has gone
        assert server_of(assoc) is None  # an association we requested has no server
    finally:
        assoc.release()
    assert wait_until(lambda: not is_connected(accepted), 10)
