"""The one-command default: runbroker starts every part on its port and stops them all on SIGTERM."""
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.hl7.mllp import MLLPClient
from tests.conftest import free_port, port_open
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _echo(port):
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    try:
        return assoc.is_established and assoc.send_c_echo().Status
    finally:
        if assoc.is_established:
            assoc.release()


def test_it_starts_every_part_and_stops_cleanly_on_sigterm(tmp_path):
    ports = {"BROKER_DICOM_PORT": free_port(), "BROKER_HL7_PORT": free_port(), "BROKER_WEB_PORT": free_port()}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"BROKER_DATA_DIR": str(tmp_path), "BROKER_HOST": "127.0.0.1"})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    proc = subprocess.Popen([sys.executable, "manage.py", "runbroker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: all(port_open("127.0.0.1", p) for p in ports.values()), 60,
                   message=
                   "runbroker did not open the DICOM, HL7 and web ports within 60 s")
        assert _echo(ports["BROKER_DICOM_PORT"]) == 0x0000
        with MLLPClient("127.0.0.1", ports["BROKER_HL7_PORT"]) as client:
            ack = client.send(b"MSH|^~\\&|RIS|HOSP|BROKER|RAD|20260101120000||ADT^A04^ADT_A01|C1|P|2.5.1\r"
                              b"PID|1||P1^^^HOSP||DOE^JANE||19800101|F\r")
        assert b"MSA|AA|C1" in ack
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['BROKER_WEB_PORT']}/healthz", timeout=10) as response:
            assert b'"database": "ok"' in response.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "broker stopped" in output
    assert not any(port_open("127.0.0.1", p) for p in ports.values())
