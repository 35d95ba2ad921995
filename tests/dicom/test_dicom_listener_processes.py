"""rundicom --processes N: N listener processes on one port, each answering the associations the kernel gives it."""
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.core.dicom_net.association import tcp_socket
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, da, identifier
from tests.waiting import wait_until

pytestmark = [pytest.mark.dcmtk, pytest.mark.slow]

SPS = "ScheduledProcedureStepSequence[0]"




def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text()


def listener_pid_of(association, server_port: int, pids: list[int]) -> int:
    """The listener process holding the server end of `association`'s TCP connection (Linux /proc)."""
    client_port = tcp_socket(association).getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no listener process holds the connection from port {client_port}")


def findscu_patient_names(port: int) -> list[str]:
    done = subprocess.run(["findscu", "-W", "-v", "-aet", "CT01", "-aec", "BROKER",
                           "-k", f"{SPS}.ScheduledStationAETitle=CT01", "-k", f"{SPS}.ScheduledProcedureStepStartDate={da()}",
                           "-k", "PatientName", "127.0.0.1", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return re.findall(r"\(0010,0010\) PN \[([^\]]*)\]", done.stderr)


def test_it_answers_from_both_processes(two_processes):
    port, pids, _ = two_processes
    assert len(pids) == 2
    make_step(make_procedure(make_order(make_patient(name="SMITH^ANNA"))), station_ae_title="CT01", start=at(10))
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityWorklistInformationFind)
    held, answered_by = [], set()
    try:
        # The kernel picks a process per connection: hold associations open until both have some.
        for _ in range(40):
            association = ae.associate("127.0.0.1", port, ae_title="BROKER")
            assert association.is_established
            held.append(association)
            pid = listener_pid_of(association, port, pids)
            responses = association.send_c_find(identifier(sps={"ScheduledStationAETitle": "CT01",
                                                                "ScheduledProcedureStepStartDate": da()}),
                                                ModalityWorklistInformationFind)
            names = [str(ds.PatientName) for status, ds in responses if ds is not None]
            assert names == ["SMITH^ANNA"], f"process {pid}"
            answered_by.add(pid)
            if answered_by == set(pids):
                break
    finally:
        for association in held:
            association.release()
    assert answered_by == set(pids)
    # And DCMTK's findscu, as a modality would call, gets the same answer every time.
    assert [findscu_patient_names(port) for _ in range(6)] == [["SMITH^ANNA"]] * 6


def test_it_stops_every_process_on_sigterm(two_processes):
    _, pids, proc = two_processes
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert all(gone(pid) for pid in pids)


def test_it_stops_the_child_processes_when_the_parent_is_killed(two_processes):
    _, pids, proc = two_processes
    proc.kill()  # SIGKILL: the parent cannot stop its children itself
    proc.wait()
    assert wait_until(lambda: all(gone(pid) for pid in pids), message="child listener processes to stop")
