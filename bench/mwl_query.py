"""Modality Worklist query benchmark: the broker's C-FIND SCP vs the echoscu floor and DCMTK's wlmscpfs.

Loads 1k / 10k / 50k / 100k scheduled steps into a scratch PostgreSQL database (`broker_bench_mwl`),
runs `manage.py rundicom` as a child process and times whole `findscu -W` processes (selective:
station + today; patient: Patient ID; broad: modality + 7 days) next to `echoscu`, with DCMTK as
shipped (Nagle on) and with TCP_NODELAY=1 in its environment, with the listener's CPU time per query;
q/s with 4 concurrent clients (findscu processes, `findscu --repeat` on one association each, and
pynetdicom processes looping association + query), against `rundicom` and `rundicom --processes 2`;
the listener's resident memory at each size; the same queries against `wlmscpfs` loaded with the
same items as .wl files (up to 50k). `--quick` runs 1k and 10k only; `--sizes 100000` one size
(for iterating; the committed report is a full run). BENCH_MWL_DATABASE_URL names the scratch database.

`--baseline DIR` compares instead: a second `rundicom` runs from DIR (a checkout of the previous main,
e.g. a `git worktree add --detach`) on the same database, and each round times echoscu and the selective
query against both listeners in turn, so both meet the same load; written to its own section
(`mwl_query_side_by_side`), the full-run section is left as it is.

    .venv/bin/python bench/mwl_query.py [--quick | --sizes N [N ...]] [--baseline DIR]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "mwl"
DATABASE_URL = os.environ.get("BENCH_MWL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/broker_bench_mwl")
STATIONS = [f"CT{n:02d}" for n in range(1, 11)] + [f"MR{n:02d}" for n in range(1, 11)]
DAYS = 200  # steps spread over 200 days around today: ~25 per station and day at 100k
sys.path.insert(0, str(ROOT))
from bench.support import cpu_seconds, free_port, scratch_django, wait_for_port  # noqa: E402


def load_steps(start_index: int, count: int) -> None:
    """Patients, orders, procedures and steps in bulk, spread over DAYS days around today, 07:00-18:59."""
    from django.utils import timezone

    from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

    today = timezone.localdate()
    batch = 5000
    for offset in range(start_index, start_index + count, batch):
        ids = range(offset, min(offset + batch, start_index + count))
        patients = Patient.objects.bulk_create(
            Patient(patient_id=f"P{i:07d}", issuer_of_patient_id="HOSP", name=f"PATIENT{i}^TEST",
                    name_search=f"PATIENT{i}^TEST", sex="F" if i % 2 else "M") for i in ids)
        orders = ImagingOrder.objects.bulk_create(
            ImagingOrder(patient=p, placer_order_number=f"PL{i}", accession_number=f"A{i:09d}",
                         referring_physician_name="WELBY^MARCUS") for i, p in zip(ids, patients, strict=True))
        procedures = RequestedProcedure.objects.bulk_create(
            RequestedProcedure(order=o, requested_procedure_id=f"RP{i}", description="CT HEAD",
                               code_value="CTHEAD", code_scheme="99LOCAL", code_meaning="CT head",
                               study_instance_uid=f"1.2.826.0.1.3680043.10.1455.9.{i}") for i, o in zip(ids, orders, strict=True))
        steps = []
        for i, rp in zip(ids, procedures, strict=True):
            station = STATIONS[i % len(STATIONS)]
            k = (i // len(STATIONS)) % DAYS  # today first, then alternately later and earlier days
            day = today + timedelta(days=(k + 1) // 2 * (1 if k % 2 else -1))
            start = timezone.make_aware(datetime(day.year, day.month, day.day, 7 + i % 12, (i * 7) % 60))
            steps.append(ScheduledProcedureStep(
                requested_procedure=rp, sps_id=f"S{i}", modality=station[:2], station_ae_title=station,
                station_name=f"ROOM {station}", location="RAD", start=start, description="CT HEAD",
                protocol_codes=[{"value": "P1", "scheme": "99LOCAL", "meaning": "Head"}]))
        ScheduledProcedureStep.objects.bulk_create(steps)


def todays_patient_id() -> str:
    from django.utils import timezone

    from worklist.models import ScheduledProcedureStep

    today = timezone.localdate()
    step = ScheduledProcedureStep.objects.filter(start__date=today, station_ae_title="CT01").select_related(
        "requested_procedure__order__patient").first()
    return step.requested_procedure.order.patient.patient_id


def queries(patient_id: str) -> dict[str, list[str]]:
    from django.utils import timezone

    today = timezone.localdate()
    d0, d7 = today.strftime("%Y%m%d"), (today + timedelta(days=6)).strftime("%Y%m%d")
    sps = "ScheduledProcedureStepSequence[0]."
    returned = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                "StudyInstanceUID", "RequestedProcedureID", "RequestedProcedureDescription",
                sps + "ScheduledProcedureStepID", sps + "ScheduledProcedureStepDescription",
                sps + "ScheduledStationName", sps + "ScheduledProcedureStepStartTime",
                sps + "ScheduledPerformingPhysicianName"]
    return {
        "selective (station + today)": [f"{sps}ScheduledStationAETitle=CT01", f"{sps}ScheduledProcedureStepStartDate={d0}",
                                        f"{sps}Modality"] + returned,
        "patient (Patient ID, today)": [f"PatientID={patient_id}", f"{sps}ScheduledProcedureStepStartDate={d0}",
                                        f"{sps}ScheduledStationAETitle", f"{sps}Modality"] + returned[:1] + returned[2:],
        "broad (modality + 7 days)": [f"{sps}Modality=CT", f"{sps}ScheduledProcedureStepStartDate={d0}-{d7}",
                                      f"{sps}ScheduledStationAETitle"] + returned,
    }


def run_timed(argv: list[str], nodelay: bool) -> tuple[float, str]:
    env = dict(os.environ)
    env.pop("TCP_NODELAY", None)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-500:]}")
    return elapsed, done.stderr


def findscu_argv(port: int, keys: list[str], called: str = "BROKER") -> list[str]:
    argv = ["findscu", "-W", "-aet", "CT01", "-aec", called]
    for key in keys:
        argv += ["-k", key]
    return argv + ["127.0.0.1", str(port)]


def echoscu_argv(port: int, called: str = "BROKER") -> list[str]:
    return ["echoscu", "-aet", "CT01", "-aec", called, "127.0.0.1", str(port)]


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95



def sample(argv, reps: int, nodelay: bool, warm_up: bool = True) -> tuple[float, float]:
    if warm_up:
        run_timed(argv, nodelay)  # warm-up: the listener's database connections and caches
    return stats([run_timed(argv, nodelay)[0] for _ in range(reps)])


def sample_interleaved(argvs: dict[str, list[str]], reps: dict[str, int], nodelay: bool,
                       pid: int | dict[str, int]) -> dict[str, tuple[float, float, float]]:
    """Median and p95 wall time, and the listener's CPU time per run, of each command. Each round runs
    every command once (the echoscu floor among them), so the floor and the queries meet the same load.
    `pid`: the listener's, or per command name the one that command talks to."""
    pids = pid if isinstance(pid, dict) else dict.fromkeys(argvs, pid)
    for argv in argvs.values():
        run_timed(argv, nodelay)  # warm-up: the listener's database connections and caches
    times = {name: [] for name in argvs}
    cpu = dict.fromkeys(argvs, 0.0)
    for round_number in range(max(reps.values())):
        for name, argv in argvs.items():
            if round_number < reps[name]:
                before = cpu_seconds(pids[name])
                times[name].append(run_timed(argv, nodelay)[0])
                cpu[name] += cpu_seconds(pids[name]) - before
    return {name: (*stats(times[name]), cpu[name] / len(times[name])) for name in argvs}


def count_matches(argv) -> int:
    _, err = run_timed(argv + ["-v"], True)
    return err.count("(Pending)")


def concurrent_qps(argv, clients: int, seconds: float, nodelay: bool, max_queries: int | None = None) -> float:
    done = []
    stop_at = time.perf_counter() + seconds
    lock = threading.Lock()

    def client():
        while time.perf_counter() < stop_at:
            run_timed(argv, nodelay)
            with lock:
                done.append(1)
                if max_queries and len(done) >= max_queries:
                    return

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(done) / (time.perf_counter() - started)


def repeated_qps(argv, clients: int, repeat: int, nodelay: bool) -> float:
    """Queries/s of `clients` findscu processes each asking `repeat` times on one association:
    the broker's query rate without findscu's process start-up (~40 ms of CPU each) in the way."""
    started = time.perf_counter()
    threads = [threading.Thread(target=run_timed, args=(argv + ["--repeat", str(repeat)], nodelay))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients * repeat / (time.perf_counter() - started)


def _association_loop(port: int, station: str, day: str, seconds: float, results) -> None:
    """One persistent client process: association + selective query + release, again and again."""
    from pydicom import Dataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    ae = AE(ae_title=station)
    ae.add_requested_context(ModalityWorklistInformationFind)
    query = Dataset()
    query.PatientName = query.PatientID = query.AccessionNumber = ""
    item = Dataset()
    item.ScheduledStationAETitle, item.ScheduledProcedureStepStartDate = station, day
    item.Modality = item.ScheduledProcedureStepID = item.ScheduledProcedureStepStartTime = ""
    query.ScheduledProcedureStepSequence = [item]
    done, stop_at = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
        if not assoc.is_established:
            continue
        for _ in assoc.send_c_find(query, ModalityWorklistInformationFind):
            pass
        assoc.release()
        done += 1
    results.put(done)


def association_loop_qps(port: int, clients: int, seconds: float) -> float:
    """Queries/s of `clients` pynetdicom processes each doing association + query in a loop."""
    import multiprocessing

    from django.utils import timezone

    results = multiprocessing.Queue()
    day = timezone.localdate().strftime("%Y%m%d")
    procs = [multiprocessing.Process(target=_association_loop, args=(port, "CT01", day, seconds, results))
             for _ in range(clients)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total / (time.perf_counter() - started)


def start_listener(port: int, processes: int, root: Path = ROOT, extra_env: dict | None = None) -> subprocess.Popen:
    """`manage.py rundicom` of the tree at `root` (this one, or the baseline's)."""
    env = dict(os.environ, BROKER_LOG_LEVEL="WARNING", BROKER_DICOM_MAX_ASSOCIATIONS="16", **(extra_env or {}))
    listener = subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", str(port),
                                 "--processes", str(processes)], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    if "ready" not in listener.stdout.readline():
        raise RuntimeError(f"rundicom --processes {processes} did not start")
    return listener


def stop_listener(listener: subprocess.Popen) -> None:
    listener.terminate()
    listener.wait(timeout=30)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0



def write_worklist_files(directory: Path) -> None:
    """The same steps as .wl files for wlmscpfs, written straight from the rows (no ORM objects)."""
    from django.utils import timezone
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from worklist.models import ScheduledProcedureStep

    shutil.rmtree(directory, ignore_errors=True)
    (directory / "BROKER").mkdir(parents=True)
    (directory / "BROKER" / "lockfile").write_text("")
    rp, order, patient = "requested_procedure__", "requested_procedure__order__", "requested_procedure__order__patient__"
    rows = ScheduledProcedureStep.objects.values_list(
        "pk", "sps_id", "modality", "station_ae_title", "station_name", "location", "start", "description",
        patient + "name", patient + "patient_id", patient + "sex", order + "accession_number",
        order + "referring_physician_name", rp + "requested_procedure_id", rp + "description",
        rp + "study_instance_uid").iterator(5000)
    for (pk, sps_id, modality, station, station_name, location, start, description, name, patient_id, sex,
         accession, referring, rp_id, rp_description, study_uid) in rows:
        local = timezone.localtime(start)
        ds = Dataset()
        ds.AccessionNumber, ds.Modality = accession, modality
        ds.ReferringPhysicianName, ds.PatientName, ds.PatientID = referring, name, patient_id
        ds.PatientBirthDate, ds.PatientSex = "19700101", sex
        ds.StudyInstanceUID, ds.RequestedProcedureDescription = study_uid, rp_description
        ds.RequestedProcedureID, ds.RequestedProcedurePriority = rp_id, "ROUTINE"
        item = Dataset()
        item.Modality, item.ScheduledStationAETitle, item.ScheduledStationName = modality, station, station_name
        item.ScheduledProcedureStepStartDate = local.strftime("%Y%m%d")
        item.ScheduledProcedureStepStartTime = local.strftime("%H%M%S")
        item.ScheduledPerformingPhysicianName = ""
        item.ScheduledProcedureStepDescription, item.ScheduledProcedureStepID = description, sps_id
        item.ScheduledProcedureStepLocation = location
        ds.ScheduledProcedureStepSequence = [item]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
        ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.1455.8.{pk}"
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(directory / "BROKER" / f"{pk}.wl", enforce_file_format=True)


LOAD_AT_START = os.getloadavg()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k steps only, fewer repetitions")
    parser.add_argument("--sizes", type=int, nargs="+", help="these sizes only (e.g. 100000), for iterating")
    parser.add_argument("--baseline", type=Path, help="a checkout of the previous main: time its listener next to this one")
    args = parser.parse_args()
    began = time.perf_counter()
    sizes = args.sizes or ([1000, 10000] if args.quick else [1000, 10000, 50000, 100000])
    wlm_sizes = {10000} if args.quick else {10000, 50000}
    reps = 5 if args.quick else 9
    WORK.mkdir(parents=True, exist_ok=True)
    scratch_django(DATABASE_URL, WORK / "data")
    if args.baseline:
        side_by_side(args.baseline.resolve(), sizes, reps, began)
        return

    port, port_2 = free_port(), free_port()
    listener = start_listener(port, 1)
    listener_2 = start_listener(port_2, 2)  # only for the q/s with 4 clients; its processes idle otherwise
    rows, wlm_rows, mem_rows = [], [], []
    try:
        loaded = 0
        for size in sizes:
            load_steps(loaded, size - loaded)
            loaded = size
            print(f"{size} steps loaded", flush=True)
            qs = queries(todays_patient_id())
            argvs = {"echoscu": echoscu_argv(port), **{name: findscu_argv(port, keys) for name, keys in qs.items()}}
            counts = {name: 3 if "broad" in name else reps for name in argvs}
            for nodelay in (False, True):
                sampled = sample_interleaved(argvs, counts, nodelay, listener.pid)
                floor = sampled.pop("echoscu")[0]
                for name, (med, p95, cpu) in sampled.items():
                    rows.append((size, nodelay, name, med, p95, floor, cpu))
            matches = {name: count_matches(findscu_argv(port, keys)) for name, keys in qs.items()}
            selective = qs["selective (station + today)"]
            qps = {nodelay: concurrent_qps(findscu_argv(port, selective), 4, 3.0, nodelay) for nodelay in (False, True)}
            qps["echo"] = concurrent_qps(echoscu_argv(port), 4, 3.0, False)
            qps["repeat"] = repeated_qps(findscu_argv(port, selective), 4, 25, True)
            qps["loop"] = association_loop_qps(port, 4, 3.0)
            qps["findscu 2"] = concurrent_qps(findscu_argv(port_2, selective), 4, 3.0, False)
            qps["echo 2"] = concurrent_qps(echoscu_argv(port_2), 4, 3.0, False)
            qps["repeat 2"] = repeated_qps(findscu_argv(port_2, selective), 4, 25, True)
            qps["loop 2"] = association_loop_qps(port_2, 4, 3.0)
            mem_rows.append((size, rss_mb(listener.pid), matches, qps, os.getloadavg()[0]))
            if size in wlm_sizes:
                wlm_rows.append((size, *bench_wlmscpfs(qs, reps)))
    finally:
        stop_listener(listener)
        stop_listener(listener_2)
    write_report(rows, mem_rows, wlm_rows, time.perf_counter() - began)


def side_by_side(baseline: Path, sizes: list[int], reps: int, began: float) -> None:
    """echoscu and the selective query against this tree's listener and the baseline's, round after round."""
    variants = [("this branch", "", ROOT, {}), ("this branch, BROKER_AUDIT=false", "no-audit ", ROOT,
                                                 {"BROKER_AUDIT": "false"}), ("previous main", "base ", baseline, {})]
    ports = {prefix: free_port() for _, prefix, _, _ in variants}
    listeners = {prefix: start_listener(ports[prefix], 1, root=root, extra_env=env) for _, prefix, root, env in variants}
    revision = subprocess.run(["git", "-C", str(baseline), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True).stdout.strip()
    here = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()
    rows = []
    try:
        loaded = 0
        for size in sizes:
            load_steps(loaded, size - loaded)
            loaded = size
            print(f"{size} steps loaded", flush=True)
            selective = queries(todays_patient_id())["selective (station + today)"]
            argvs, pids = {}, {}
            for _, prefix, _, _ in variants:
                argvs[prefix + "echoscu"] = echoscu_argv(ports[prefix])
                argvs[prefix + "selective"] = findscu_argv(ports[prefix], selective)
                pids[prefix + "echoscu"] = pids[prefix + "selective"] = listeners[prefix].pid
            matches = count_matches(argvs["selective"])
            for nodelay in (False, True):
                sampled = sample_interleaved(argvs, dict.fromkeys(argvs, reps), nodelay, pids)
                rows.append((size, nodelay, matches, sampled, os.getloadavg()[0]))
    finally:
        for listener in listeners.values():
            stop_listener(listener)
    lines = ["This tree's `rundicom` (with the audit trail on, the default, and off) and the previous main's",
             "(`--baseline`), all on the same PostgreSQL scratch database, one process each, timed in the same rounds:",
             "each round runs echoscu and the selective query (station + today) against each listener in turn. Whole `findscu -W`",
             "processes; median of the rounds; \"listener CPU\" is that listener's own CPU time per query.", "",
             f"This tree: `{here}`; baseline: `{revision}`.", "",
             "| steps | DCMTK | matches | listener | echoscu floor | selective median | p95 | median / floor | listener CPU | load average |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for size, nodelay, matches, sampled, load in rows:
        for label, prefix, _, _ in variants:
            floor = sampled[prefix + "echoscu"][0]
            med, p95, cpu = sampled[prefix + "selective"]
            lines.append(f"| {size:,} | {'NODELAY' if nodelay else 'Nagle'} | {matches} | {label} | {floor * 1000:.0f} ms | "
                         f"{med * 1000:.0f} ms | {p95 * 1000:.0f} ms | {med / floor:.2f}× | {cpu * 1000:.1f} ms | {load:.1f} |")
    lines += ["", "Target: the selective query within 1.5× of the echoscu floor. "
              f"Whole run: {(time.perf_counter() - began) / 60:.1f} min; load average at the start {LOAD_AT_START:.1f}, "
              f"at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other engineers' tests share this machine)."]
    from bench.report import write_section

    write_section("mwl_query_side_by_side", "\n".join(lines))


def bench_wlmscpfs(qs, reps):
    directory = WORK / "wlm"
    write_worklist_files(directory)
    port = free_port()
    server = subprocess.Popen(["wlmscpfs", "-dfp", str(directory), str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        floor = sample(echoscu_argv(port), 3, False, warm_up=False)
        selective = qs["selective (station + today)"]
        med, p95 = sample(findscu_argv(port, selective), 3, False, warm_up=False)
        med_nd, _ = sample(findscu_argv(port, selective), 2, True, warm_up=False)
        qps = concurrent_qps(findscu_argv(port, selective), 4, 1.0, False, max_queries=4)
        return floor[0], med, p95, med_nd, qps
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def write_report(rows, mem_rows, wlm_rows, seconds):
    from bench.report import write_section

    lines = ["Whole `findscu -W` processes against `manage.py rundicom` (PostgreSQL), next to an `echoscu`",
             "association to the same listener in the same run (the floor; one echoscu, then each query, in turn,",
             "round after round). \"Nagle\" is DCMTK as shipped;",
             "\"NODELAY\" is `TCP_NODELAY=1` in DCMTK's environment. The listener sets TCP_NODELAY and",
             "re-arms TCP_QUICKACK before each read, so DCMTK's split header/body writes are not held back.", "",
             "\"Listener CPU\" is the listener process's own CPU time per query (association included): unlike",
             "wall time it hardly moves with the machine's load.", "",
             "| steps | DCMTK | query | median | p95 | echoscu floor | median / floor | listener CPU |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for size, nodelay, name, med, p95, floor, cpu in rows:
        lines.append(f"| {size:,} | {'NODELAY' if nodelay else 'Nagle'} | {name} | {med * 1000:.0f} ms | "
                     f"{p95 * 1000:.0f} ms | {floor * 1000:.0f} ms | {med / floor:.2f}× | {cpu * 1000:.0f} ms |")
    lines += ["", "Matches per query, queries per second with 4 concurrent clients (selective query) and the listener's",
              "resident memory. `findscu` processes pay DCMTK's start-up (~40 ms of CPU each) on the same 2 cores as",
              "the listener; \"repeat\" is 4 `findscu --repeat 25` (one association each, 25 queries); \"assoc loop\" is",
              "4 pynetdicom client processes each doing association + query + release in a loop. \"1 process\" is",
              "`rundicom`, \"2 processes\" is `rundicom --processes 2` (two listener processes sharing the port).", "",
              "| steps | selective / patient / broad matches | 1 process: findscu q/s (Nagle / NODELAY) | echoscu associations/s (floor) | repeat q/s | assoc loop q/s | 2 processes: findscu q/s | echoscu associations/s (floor) | repeat q/s | assoc loop q/s | listener RSS | load average |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, rss, matches, qps, load in mem_rows:
        m = " / ".join(str(v) for v in matches.values())
        lines.append(f"| {size:,} | {m} | {qps[False]:.0f} / {qps[True]:.0f} | {qps['echo']:.0f} | "
                     f"{qps['repeat']:.0f} | {qps['loop']:.0f} | {qps['findscu 2']:.0f} | {qps['echo 2']:.0f} | "
                     f"{qps['repeat 2']:.0f} | {qps['loop 2']:.0f} | {rss:.0f} MB | {load:.1f} |")
    if wlm_rows:
        broker = {(s, n, q): med for s, n, q, med, _, _, _ in rows}
        lines += ["", "DCMTK `wlmscpfs` loaded with the same steps as .wl files, selective query:", "",
                  "| steps | wlmscpfs echoscu floor | wlmscpfs median (Nagle) | p95 | median (NODELAY) | wlmscpfs q/s, 4 clients | broker median (Nagle) | broker speed-up |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for size, floor, med, p95, med_nd, qps in wlm_rows:
            ours = broker[(size, False, "selective (station + today)")]
            lines.append(f"| {size:,} | {floor * 1000:.0f} ms | {med * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
                         f"{med_nd * 1000:.0f} ms | {qps:.1f} | {ours * 1000:.0f} ms | {med / ours:.1f}× |")
    largest = max(size for size, *_ in rows)
    ratios = {nodelay: med / floor for size, nodelay, name, med, _, floor, _ in rows
              if size == largest and name.startswith("selective")}
    best_whole = max(max(q[False], q[True], q["findscu 2"]) for size, _, _, q, _ in mem_rows if size == largest)
    best_repeat = max(max(q["repeat"], q["repeat 2"]) for size, _, _, q, _ in mem_rows if size == largest)
    floor_qps = max(max(q["echo"], q["echo 2"]) for size, _, _, q, _ in mem_rows if size == largest)
    lines += ["", "Reading the figures: the selective query's SQL is the same index scan at every size (PostgreSQL and",
              "SQLite both use `sps_status_start_idx`: status and the day's start range, then the station; `EXPLAIN",
              "ANALYZE` at 100,000 steps, warm: ~0.3 ms to plan, ~0.3 ms to run, the day's 500 rows read for 25 kept).",
              "What grows is the answer: the bench spreads the steps over 200 days and 20 stations, so station + today",
              "matches 1 step at 1,000 and 25 at 100,000, each one a C-FIND response the listener encodes and sends",
              "and findscu reads (~0.2 ms each, wall). Whole findscu processes cannot exceed the echoscu association",
              "rate measured next to them (DCMTK's process start-up on the same 2 cores): 100 queries/s from 4",
              "clients needs modalities that keep their association open (\"repeat\").", "",
              f"This run at {largest:,} steps: selective median / echoscu floor {ratios.get(False, 0):.2f}× (Nagle), "
              f"{ratios.get(True, 0):.2f}× (NODELAY);",
              f"best whole-process findscu rate {best_whole:.0f} q/s against an echoscu floor of {floor_qps:.0f} associations/s;",
              f"best rate on persistent associations {best_repeat:.0f} q/s.", "",
              "Targets: selective query at 100,000 steps ≤ 1.5× the echoscu floor; ≥ 30× faster than wlmscpfs at",
              "50,000 items; ≥ 100 q/s with 4 clients; listener memory flat as the steps grow.",
              f"Whole run: {seconds / 60:.1f} min; load average at the start {LOAD_AT_START:.1f}, at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(other benchmarks share this machine)."]
    write_section("mwl_query", "\n".join(lines))


if __name__ == "__main__":
    main()
