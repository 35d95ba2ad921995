"""The one-command default: runbroker starts every part on its port and stops them all on SIGTERM."""
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.core.hl7v2.mllp import MLLPClient
from tests.services import free_port, port_open
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # child processes: each test starts Django again

ROOT = Path(__file__).resolve().parents[2]


def _echo(port):
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    try:
        return assoc.is_established and assoc.send_c_echo().Status
    finally:
        if assoc.is_established:
            assoc.release()


def _broker_env(tmp_path, **extra):
    ports = {"BROKER_DICOM_PORT": free_port(), "BROKER_HL7_PORT": free_port(), "BROKER_WEB_PORT": free_port()}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"BROKER_DATA_DIR": str(tmp_path), "BROKER_HOST": "127.0.0.1", **extra})
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env, ports


def test_it_starts_every_part_and_stops_cleanly_on_sigterm(tmp_path):
    env, ports = _broker_env(tmp_path)
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


def _process_start(pid: int) -> str | None:
    """The start time of a live (not zombie) process, which tells it apart from a later one with the same pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (children, their children, ...), with its start time."""
    found, todo = {}, [pid]
    while todo and len(found) < 200:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                start = _process_start(child)
                if start is not None and child not in found:
                    found[child] = start
                    todo.append(child)
    return found


def _start_broker(env, log_path):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, "manage.py", "runbroker"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _wait_serving(ports, timeout=90):
    wait_until(lambda: all(port_open("127.0.0.1", p) for p in ports.values()), timeout,
               message="runbroker did not open the DICOM, HL7 and web ports")
    wait_until(lambda: _healthz_answers(ports["BROKER_WEB_PORT"]), 30, interval=0.2, message="/healthz answered")


def _healthz_answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
            return True
    except OSError:
        return False


# Two DICOM listener processes (one a child of rundicom), the HL7 listener, the Celery worker and its embedded
# beat, the gunicorn master and its two workers.
EXPECTED_PROCESSES = 8


def test_it_leaves_nothing_serving_when_killed_with_sigkill(tmp_path):
    _kill_and_restart(tmp_path, EXPECTED_PROCESSES, BROKER_DICOM_PROCESSES="2")


@pytest.mark.redis
def test_it_leaves_no_celery_pool_process_when_killed_with_sigkill(tmp_path, redis_url):
    # With Redis the worker runs a prefork pool: two pool processes more, children of the Celery worker.
    _kill_and_restart(tmp_path, EXPECTED_PROCESSES + 2, BROKER_DICOM_PROCESSES="2", CELERY_BROKER_URL=redis_url)


def _kill_and_restart(tmp_path, expected_processes, **extra):
    env, ports = _broker_env(tmp_path, **extra)
    proc = _start_broker(env, tmp_path / "first.log")
    tree = {}
    try:
        _wait_serving(ports)
        tree = wait_until(lambda: (found := _descendants(proc.pid)) and len(found) >= expected_processes and found,
                          30, interval=0.2, message=f"{expected_processes} processes under runbroker")
        proc.kill()
        proc.wait(timeout=10)
        wait_until(lambda: not any(_process_start(pid) == start for pid, start in tree.items()), 30, interval=0.1,
                   message="every process of the killed broker to end: "
                           + (tmp_path / "first.log").read_text(errors="replace")[-2000:])
        assert not any(port_open("127.0.0.1", p) for p in ports.values())
    finally:
        for pid, start in tree.items():  # only the processes this test started, and only if the test failed
            if _process_start(pid) == start:
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    second = _start_broker(env, tmp_path / "second.log")
    try:
        _wait_serving(ports)
        assert _echo(ports["BROKER_DICOM_PORT"]) == 0x0000
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0, (tmp_path / "second.log").read_text(errors="replace")[-3000:]
