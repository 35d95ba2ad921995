"""The whole chain for real: a modality → the DICOM listener process → a Redis-backed Celery worker process →
a downstream MPPS SCP and a RIS over MLLP (both in this test), including a RIS that is away for a while and
a worker killed mid-task."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker.outbound.models import DeliveryState, MppsDestination, RisEndpoint, RisNotification
from tests.factories import make_step
from tests.mpps.support import (
    Modality,
    RecordingMppsScp,
    RisServer,
    n_create_dataset,
    n_set_dataset,
    running,
    segment,
    series_item,
    wait_until,
)
from tests.services import free_port, port_open

pytestmark = [pytest.mark.redis, pytest.mark.timeout(240), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Processes:
    """The broker's own processes under test, started with the test database and Redis; stopped at the end."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs, self.procs = env, logs, {}

    def start(self, name: str, argv: list[str]):
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self.procs[name]

    def start_listener(self) -> int:
        port = free_port()
        self.start("dicom", [sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", str(port)])
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, message="the DICOM listener")
        return port

    def start_worker(self, name: str = "worker"):
        proc = self.start(name, [sys.executable, "-m", "celery", "-A", "broker", "worker", "--beat", "--loglevel",
                                 "INFO", "--concurrency", "1", "--schedule", str(self.logs / f"{name}-beat"),
                                 "--hostname", f"{name}@mpps-test"])
        wait_until(lambda: b"ready" in (self.logs / f"{name}.log").read_bytes(), timeout=60,
                   message=f"celery {name} to be ready")
        return proc

    def kill(self, name: str):
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool child, as a crash or an OOM kill would
        proc.wait(10)

    def stop_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs.glob("*.log"))


@pytest.fixture
def processes(database_url_for_subprocess, redis_url, tmp_path):
    # Messages a past run left in Redis are harmless: every task claims its row, so stale ones do nothing.
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess, CELERY_BROKER_URL=redis_url,
               BROKER_OUTBOUND_RETRY_BASE_SECONDS="0.5", BROKER_OUTBOUND_RETRY_MAX_SECONDS="2",
               BROKER_OUTBOUND_SWEEP_SECONDS="1", BROKER_OUTBOUND_STUCK_SECONDS="5",
               BROKER_OUTBOUND_PENDING_GRACE_SECONDS="3", BROKER_LOG_LEVEL="INFO")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    procs = Processes(env, tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        print(procs.log_text())


def perform_exam(port: int, step) -> str:
    with Modality(port) as modality:
        status, uid = modality.create(n_create_dataset(step))
        assert status.Status == 0x0000
        assert modality.set(uid, n_set_dataset(series=[series_item(1)])).Status == 0x0000
        assert modality.set(uid, n_set_dataset("COMPLETED", series=[series_item(2)])).Status == 0x0000
    return uid


def test_it_forwards_the_mpps_and_tells_the_ris_in_order(processes):
    with running(RecordingMppsScp()) as pacs, running(RisServer()) as ris:
        MppsDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=pacs.port)
        RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, message_format="ORM")
        step = make_step()
        order = step.requested_procedure.order
        port = processes.start_listener()
        processes.start_worker()

        uid = perform_exam(port, step)

        wait_until(lambda: len(pacs.operations(uid)) == 3, timeout=60, message="three forwards at the PACS")
        assert pacs.operations(uid) == ["N-CREATE", "N-SET", "N-SET"]
        assert pacs.received[-1][2].PerformedProcedureStepStatus == "COMPLETED"
        wait_until(lambda: len(ris.messages()) == 2, timeout=60, message="two status messages at the RIS")
        orcs = [segment(m, "ORC") for m in ris.messages()]
        assert [(o[1], o[5]) for o in orcs] == [("SC", "IP"), ("SC", "CM")]
        assert {o[2].split("^")[0] for o in orcs} == {order.placer_order_number}
        assert {segment(m, "OBR")[18] for m in ris.messages()} == {order.accession_number}
        wait_until(lambda: set(RisNotification.objects.values_list("state", flat=True)) == {DeliveryState.SENT},
                   timeout=30, message="notifications marked SENT")


def test_it_delivers_to_the_ris_once_it_is_back(processes):
    ris_port = free_port()
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris_port, timeout_seconds=2)
    step = make_step()
    port = processes.start_listener()
    processes.start_worker()

    with Modality(port) as modality:
        status, uid = modality.create(n_create_dataset(step))
    assert status.Status == 0x0000  # the RIS being away does not change what the modality is told

    wait_until(lambda: RisNotification.objects.filter(attempts__gte=2, state=DeliveryState.FAILED).exists(),
               timeout=60, message="the notification to fail and be retried")
    with running(RisServer(port=ris_port)) as ris:
        wait_until(lambda: RisNotification.objects.filter(state=DeliveryState.SENT).exists(), timeout=60,
                   message="the notification delivered after the RIS came back")
        assert [segment(m, "ORC")[5] for m in ris.messages()] == ["IP"]
    notification = RisNotification.objects.get()
    assert notification.attempts >= 3 and segment(notification.ack, "MSA")[1] == "AA"


def test_it_loses_nothing_when_the_worker_is_killed_mid_task(processes):
    with running(RisServer()) as ris:
        ris.hold.clear()  # the RIS takes the message and does not answer yet: the task is mid-flight
        RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, timeout_seconds=30)
        step = make_step()
        port = processes.start_listener()
        processes.start_worker("worker1")
        with Modality(port) as modality:
            status, _ = modality.create(n_create_dataset(step))
        assert status.Status == 0x0000
        wait_until(lambda: len(ris.messages()) == 1, timeout=60, message="the message to reach the RIS")
        assert RisNotification.objects.get().state == DeliveryState.RUNNING

        processes.kill("worker1")
        ris.hold.set()
        processes.start_worker("worker2")

        wait_until(lambda: RisNotification.objects.filter(state=DeliveryState.SENT).exists(), timeout=90,
                   message="the sweep to hand the lost work to the new worker")
        notification = RisNotification.objects.get()
        assert notification.attempts == 2
        first, again = ris.messages()[:2]
        assert segment(first, "MSH")[10] == segment(again, "MSH")[10] == notification.control_id
