"""Data at rest and in logs (issue 9): the real broker (runbroker) in a fresh data directory, fed an order over
MLLP, a worklist C-FIND and a C-STORE. Every folder it made is 0700 and every file 0600, and its log lines
name records by ids, not by the patient's name or birth date (unless BROKER_LOG_PHI=true).
"""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.core.hl7v2.mllp import MLLPClient
from tests.hl7.support import orm, pid
from tests.mwl.support import identifier
from tests.routing.support import make_study
from tests.services import free_port, port_open
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # child processes: each test starts Django again

ROOT = Path(__file__).resolve().parents[2]
FAMILY, GIVEN, BIRTH = "QUIXWELLSBURY", "OTTILIE", "19411107"
BAD_BIRTH = "1941-11-07"  # a RIS's malformed PID-7: the refusal quotes it


def _broker(data_dir: Path, *without, **extra):
    ports = {"BROKER_DICOM_PORT": free_port(), "BROKER_HL7_PORT": free_port(), "BROKER_WEB_PORT": free_port()}
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "BROKER_LOG_PHI")}
    env.update({k: str(v) for k, v in ports.items()})
    # pynetdicom at DEBUG dumps every C-FIND identifier it receives: the leak an operator who debugs makes.
    env.update({"BROKER_DATA_DIR": str(data_dir), "BROKER_HOST": "127.0.0.1", "BROKER_PYNETDICOM_LOG_LEVEL": "DEBUG",
                "BROKER_STUDY_QUIET_SECONDS": "1", **extra})
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=True)
    log_path = data_dir.parent / f"{data_dir.name}.log"
    argv = [sys.executable, "manage.py", "runbroker", *(f"--without={part}" for part in without)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, ports, log_path, migrate.stdout + migrate.stderr


def _stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _feed(ports, tmp_path) -> None:
    """An order for the patient over MLLP, a worklist C-FIND by name, and one image of the patient."""
    wait_until(lambda: port_open("127.0.0.1", ports["BROKER_HL7_PORT"]) and port_open("127.0.0.1", ports["BROKER_DICOM_PORT"]),
               90, message="runbroker opened its DICOM and HL7 ports")
    with MLLPClient("127.0.0.1", ports["BROKER_HL7_PORT"]) as client:
        ack = client.send(orm(control_id="PHI-1", accession="ACCPHI1", start="20260315093000",
                              patient=pid(patient_id="PPHI1", name=f"{FAMILY}^{GIVEN}", birth=BIRTH)))
        refused = client.send(orm(control_id="PHI-2", accession="ACCPHI2", placer="PLPHI2",
                                  patient=pid(patient_id="PPHI2", name=f"{FAMILY}^{GIVEN}", birth=BAD_BIRTH)))
    assert b"MSA|AA|PHI-1" in ack
    assert b"MSA|AE|PHI-2" in refused and b"PID" in refused
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityWorklistInformationFind)
    [path] = make_study(tmp_path / "study", count=1, mix=False, PatientName=f"{FAMILY}^{GIVEN}", PatientBirthDate=BIRTH)
    image = dcmread(path)
    ae.add_requested_context(image.SOPClassUID, image.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", ports["BROKER_DICOM_PORT"], ae_title="BROKER")
    assert assoc.is_established
    try:
        query = identifier({"PatientName": f"{FAMILY}*", "PatientBirthDate": ""}, {"ScheduledProcedureStepStartDate": "20260315"})
        answers = [(status.Status, ds) for status, ds in assoc.send_c_find(query, ModalityWorklistInformationFind)]
        assert answers[0][0] == 0xFF00 and str(answers[0][1].PatientName) == f"{FAMILY}^{GIVEN}"
        assert answers[-1][0] == 0x0000
        assert assoc.send_c_store(image).Status == 0x0000
    finally:
        assoc.release()


def _modes(directory: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(directory.stat().st_mode))}
    for root, folders, files in os.walk(directory):
        for name in folders + files:
            path = Path(root, name)
            found[str(path.relative_to(directory))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_it_keeps_the_data_directory_and_the_logs_to_itself(tmp_path):
    data_dir = tmp_path / "data"  # not there yet: the broker makes it
    proc, ports, log_path, _ = _broker(data_dir)
    try:
        _feed(ports, tmp_path)
        wait_until(lambda: any((data_dir / "storage").rglob("*.dcm")), 30, message="the image stored")
        wait_until(lambda: (data_dir / "celerybeat-schedule").exists() or any(data_dir.glob("celerybeat-schedule*")),
                   30, message="the worker's beat schedule written")
    finally:
        _stop(proc)

    modes = _modes(data_dir)
    folders = {name for name in modes if (data_dir / name).is_dir()}
    assert {"storage", "celery-queue", "static"} <= folders
    assert {"broker.sqlite3", "secret_key"} <= set(modes)
    wrong = {name: mode for name, mode in modes.items()
             if mode != ("0o700" if name in folders or name == "." else "0o600")}
    assert not wrong, f"not the service account's only: {wrong}"
    log = log_path.read_text()
    assert "Find SCP Response 1: 0xFF00" in log  # it did log the work, and pynetdicom's dumps
    refusal = next(line for line in log.splitlines() if "PHI-2" in line)  # the refused message, named by its id
    assert "[redacted] in PID-7" in refusal
    assert FAMILY not in log and GIVEN not in log
    assert BIRTH not in log and BAD_BIRTH not in log


def test_it_logs_the_patient_name_when_asked_to_for_debugging(tmp_path):
    data_dir = tmp_path / "data"
    proc, ports, log_path, _ = _broker(data_dir, "worker", "web", BROKER_LOG_PHI="true")
    try:
        _feed(ports, tmp_path)
    finally:
        _stop(proc)
    log = log_path.read_text()
    assert f"'{BAD_BIRTH}' in PID-7" in log
