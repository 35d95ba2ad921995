"""MPPS throughput: N-CREATE + N-SET(COMPLETED) pairs per second from 4 modalities at once, next to the C-ECHO
floor of the same listener in the same run.

    .venv/bin/python bench/mpps.py [--quick] [--seconds N]

The listener runs as its own process (manage.py rundicom) on a free port; 4 modality threads each keep one
association open and report exams back to back, every exam linked to its own scheduled step. Database:
PostgreSQL `broker_bench_mpps` when a server answers at 127.0.0.1:5432, otherwise SQLite under bench/.work/.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import free_port, wait_for_port  # noqa: E402

WORK = ROOT / "bench" / ".work" / "mpps"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
MODALITIES = 4


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def prepare_environment() -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ["BROKER_DATA_DIR"] = str(WORK)
    os.environ.pop("CELERY_BROKER_URL", None)
    if pg_available():
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS broker_bench_mpps WITH (FORCE)")
            conn.execute("CREATE DATABASE broker_bench_mpps")
        os.environ["DATABASE_URL"] = f"{PG_SERVER}/broker_bench_mpps"
        return "PostgreSQL"
    db = WORK / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    return "SQLite (WAL)"




def make_steps(count: int) -> list:
    from pydicom.uid import generate_uid

    from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

    patients = Patient.objects.bulk_create(Patient(patient_id=f"B{i:06d}", name=f"BENCH^P{i}") for i in range(count))
    orders = ImagingOrder.objects.bulk_create(
        ImagingOrder(patient=p, placer_order_number=f"BPL{i:06d}", accession_number=f"BACC{i:06d}")
        for i, p in enumerate(patients))
    procedures = RequestedProcedure.objects.bulk_create(
        RequestedProcedure(order=o, requested_procedure_id=f"BRP{i:06d}", study_instance_uid=generate_uid())
        for i, o in enumerate(orders))
    return ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=r, sps_id=f"BSPS{i:06d}", modality="CT", station_ae_title="CT01")
        for i, r in enumerate(procedures))


class Load:
    """Run `work(assoc, i)` on MODALITIES threads, each with its own association, for `seconds`."""

    def __init__(self, port: int, contexts, seconds: float):
        self.port, self.contexts, self.seconds = port, contexts, seconds
        self.latencies, self.failures, self.lock = [], 0, threading.Lock()
        self.finished = []  # monotonic completion time of each successful operation

    def rate(self) -> float:
        """Successful operations per second inside the measured window. A request whose response pynetdicom's
        client loses under CPU starvation (seen here as 'Received unexpected … service message') only costs its
        thread the rest of the window instead of stretching the window by the DIMSE timeout."""
        return sum(1 for t in self.finished if t <= self.window_end) / self.seconds

    def run(self, work, limits: list[int]) -> float:
        from pynetdicom import AE

        barrier = threading.Barrier(MODALITIES + 1)
        threads = []

        def modality(index: int):
            ae = AE(ae_title=f"CT{index:02d}")
            ae.dimse_timeout = 5
            for context in self.contexts:
                ae.add_requested_context(context)
            assoc = ae.associate("127.0.0.1", self.port, ae_title="BROKER")
            barrier.wait()
            stop_at = time.monotonic() + self.seconds
            done = 0
            while time.monotonic() < stop_at and done < limits[index]:
                if not assoc.is_established:  # pynetdicom aborts an association after a DIMSE timeout
                    assoc = ae.associate("127.0.0.1", self.port, ae_title="BROKER")
                    if not assoc.is_established:
                        continue
                started = time.perf_counter()
                ok = work(assoc, index, done)
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.latencies.append(elapsed)
                    self.failures += 0 if ok else 1
                    if ok:
                        self.finished.append(time.monotonic())
                done += 1
            if assoc.is_established:
                assoc.release()

        for index in range(MODALITIES):
            threads.append(threading.Thread(target=modality, args=(index,)))
            threads[-1].start()
        barrier.wait()
        self.window_end = time.monotonic() + self.seconds
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (5 s per phase)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per phase (default 20)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    engine = prepare_environment()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from pydicom.uid import generate_uid
    from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

    sys.path.insert(0, str(ROOT / "tests"))
    from tests.mpps.support import n_create_dataset, n_set_dataset, series_item

    per_modality = int(seconds * 150)  # far more exams than 2 cores can report in the time
    steps = make_steps(per_modality * MODALITIES)
    port = free_port()
    env = dict(os.environ, BROKER_LOG_LEVEL="WARNING")
    listener = subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        echo = Load(port, [Verification], seconds)
        echo.run(lambda assoc, i, n: assoc.send_c_echo().get("Status") == 0, [10**9] * MODALITIES)
        echoes_per_s = echo.rate()

        completion = n_set_dataset("COMPLETED", series=[series_item(3)])

        def exam(assoc, index, n):
            step = steps[index * per_modality + n]
            status, _ = assoc.send_n_create(n_create_dataset(step, patient_name="BENCH^P", patient_id="B"),
                                            ModalityPerformedProcedureStep, uid := generate_uid())
            if status.get("Status") != 0:
                return False
            status, _ = assoc.send_n_set(completion, ModalityPerformedProcedureStep, uid)
            return status.get("Status") == 0

        mpps = Load(port, [ModalityPerformedProcedureStep], seconds)
        mpps.run(exam, [per_modality] * MODALITIES)
        pairs_per_s = mpps.rate()
    finally:
        listener.terminate()
        listener.wait(15)

    from worklist.models import ScheduledProcedureStep

    completed = ScheduledProcedureStep.objects.filter(status="COMPLETED").count()
    load = os.getloadavg()[0]
    ms = lambda values, q: statistics.quantiles(values, n=100)[q - 1] * 1000  # noqa: E731
    markdown = f"""
| measure ({MODALITIES} modalities at once, {seconds:g} s each, {engine}) | value | vs. C-ECHO floor |
| --- | --- | --- |
| C-ECHO round trips per second (floor) | {echoes_per_s:.0f} | 1.00× |
| N-CREATE + N-SET(COMPLETED) pairs per second | {pairs_per_s:.1f} | {pairs_per_s / echoes_per_s:.3f}× pairs, {2 * pairs_per_s / echoes_per_s:.3f}× DIMSE round trips |
| pair latency p50 / p95 | {ms(mpps.latencies, 50):.1f} ms / {ms(mpps.latencies, 95):.1f} ms | echo p50 {ms(echo.latencies, 50):.2f} ms |
| failed pairs / failed echoes | {mpps.failures} of {len(mpps.latencies)} / {echo.failures} of {len(echo.latencies)} | |
| scheduled steps COMPLETED by the run | {completed} | |

Each pair links its scheduled step (STARTED, then COMPLETED with its order) and journals both requests, in one
transaction per request; no forward destinations or RIS endpoints are configured, so this is the SCP itself.
The listener and the modalities share the machine's 2 cores (load average {load:.1f} at the end of the run).
"""
    print(markdown)
    from bench.report import write_section

    write_section("mpps", markdown)
    if mpps.failures > len(mpps.latencies) // 100:
        sys.exit(f"{mpps.failures} pairs failed")


if __name__ == "__main__":
    main()
