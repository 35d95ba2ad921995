"""DICOM over TLS against plain TCP, in the same run: the MWL selective query and a 200-image C-STORE.

Loads a few thousand scheduled steps into a scratch PostgreSQL database (BENCH_TLS_DATABASE_URL, default
`broker_dicomtls_bench`), makes a test CA with the broker's certificate and a modality's client certificate,
and runs one `manage.py rundicom` with a plain and a TLS port (mutual TLS: BROKER_TLS_CA set). Each round
times, on both ports in alternating order, whole `findscu -W` processes (station + today; each its own
association and handshake, as a modality asks) and one `storescu` process sending 200 CT images of
512x512x16 bits made by the bench (fresh SOP Instance UIDs each round, so every image is really stored).
Reported as medians and the TLS/plain ratio (targets: ≤ 1.3× on the query, ≤ 1.2× on the images) into the
`tls` section of docs/benchmarks.md. Only 127.0.0.1; the rounds and the queries per round are fixed counts.

    .venv/bin/python bench/tls.py [--quick] [--rounds N] [--steps N]
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "tls"
DATABASE_URL = os.environ.get("BENCH_TLS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/broker_dicomtls_bench")
IMAGES = 200
QUERY_TARGET, STORE_TARGET = 1.3, 1.2
READY = re.compile(r"DICOM listener ready on [\d.]+:(\d+) \(pid \d+\); TLS on [\d.]+:(\d+)")
sys.path.insert(0, str(ROOT))
from bench.support import cpu_seconds, scratch_django  # noqa: E402


def certificates() -> dict[str, Path]:
    from tests.certificates import CertificateAuthority

    ca = CertificateAuthority(WORK / "ca", name="Bench CA")
    broker_cert, broker_key = ca.issue("broker", subject_alt_name="DNS:localhost,IP:127.0.0.1")
    modality_cert, modality_key = ca.issue("modality", client=True)
    return {"ca": ca.certificate, "cert": broker_cert, "key": broker_key, "client_cert": modality_cert,
            "client_key": modality_key}


def make_images(directory: Path) -> list[Path]:
    """IMAGES CT images of 512x512 16-bit pixels (512 KB each), one study, explicit VR little endian."""
    from pydicom.uid import generate_uid

    from tests.routing.support import make_image

    directory.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    return [make_image(directory / f"ct{n:03d}.dcm", study_uid=study, series_uid=series, number=n + 1, rows=512,
                       columns=512) for n in range(IMAGES)]


def renew_uids(paths: list[Path]) -> None:
    """New study, series and SOP Instance UIDs in place: the next round stores new instances, not repeats."""
    import pydicom
    from pydicom.uid import generate_uid

    study, series = generate_uid(), generate_uid()
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(path, enforce_file_format=True)


def forget_stored() -> None:
    """Rows and files of the previous round's instances, so storage does not grow round by round."""
    from broker.routing.models import Study

    Study.objects.all().delete()
    shutil.rmtree(WORK / "storage", ignore_errors=True)
    (WORK / "storage").mkdir(parents=True)


CLIENT_CPU = {"plain": 0.0, "tls": 0.0, "warm-up": 0.0}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children that ended and were waited for
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], mode: str) -> float:
    """Wall time of one DCMTK process; its CPU time (user + system) is added to CLIENT_CPU[mode]."""
    before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    CLIENT_CPU[mode] += children_cpu() - before
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, 10 queries per round and port")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    parser.add_argument("--steps", type=int, default=3000, help="scheduled steps in the database (default 3000)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    queries_per_round = 10 if args.quick else 30
    if shutil.which("findscu") is None:
        sys.exit("DCMTK is not installed (apt-get install dcmtk)")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    scratch_django(DATABASE_URL, WORK / "data", storage_dir=WORK / "storage")
    from django.utils import timezone

    from bench.mwl_query import load_steps

    load_steps(0, args.steps)
    files = certificates()
    images = make_images(WORK / "images")

    today = timezone.localdate().strftime("%Y%m%d")
    sps = "ScheduledProcedureStepSequence[0]."
    keys = [f"{sps}ScheduledStationAETitle=CT01", f"{sps}ScheduledProcedureStepStartDate={today}", f"{sps}Modality",
            "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyInstanceUID",
            "RequestedProcedureID", f"{sps}ScheduledProcedureStepID", f"{sps}ScheduledProcedureStepStartTime"]
    find = ["findscu", "-W", "-aet", "CT01", "-aec", "BROKER", *[a for k in keys for a in ("-k", k)]]
    store = ["storescu", "-aet", "CT01", "-aec", "BROKER"]
    tls_options = ["+tls", str(files["client_key"]), str(files["client_cert"]), "+cf", str(files["ca"])]

    env = dict(os.environ, BROKER_LOG_LEVEL="WARNING", BROKER_TLS_CERT=str(files["cert"]),
               BROKER_TLS_KEY=str(files["key"]), BROKER_TLS_CA=str(files["ca"]))
    listener = subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", "0",
                                 "--tls-port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    query = {"plain": [], "tls": []}
    stores = {"plain": [], "tls": []}
    cpu = {"plain": 0.0, "tls": 0.0}
    query_cpu = {"plain": 0.0, "tls": 0.0}
    store_client_cpu = {"plain": 0.0, "tls": 0.0}
    try:
        ready = READY.search(listener.stdout.readline())
        if not ready:
            sys.exit("rundicom did not start (see its log above)")
        ports = {"plain": ready.group(1), "tls": ready.group(2)}
        options = {"plain": [], "tls": tls_options}
        for mode in ports:  # warm both paths once
            timed([*find, *options[mode], "127.0.0.1", ports[mode]], "warm-up")
        for round_number in range(rounds):
            order = ["plain", "tls"] if round_number % 2 == 0 else ["tls", "plain"]
            for _ in range(queries_per_round):
                for mode in order:
                    before = cpu_seconds(listener.pid)
                    query[mode].append(timed([*find, *options[mode], "127.0.0.1", ports[mode]], mode))
                    query_cpu[mode] += cpu_seconds(listener.pid) - before
            for mode in order:
                renew_uids(images)
                forget_stored()
                client_before = CLIENT_CPU[mode]
                before = cpu_seconds(listener.pid)
                stores[mode].append(timed([*store, *options[mode], "127.0.0.1", ports[mode], *map(str, images)], mode))
                cpu[mode] += cpu_seconds(listener.pid) - before
                store_client_cpu[mode] += CLIENT_CPU[mode] - client_before
            print(f"round {round_number + 1}/{rounds}: query plain {statistics.median(query['plain']) * 1000:.1f} ms, "
                  f"TLS {statistics.median(query['tls']) * 1000:.1f} ms; 200 images plain {stores['plain'][-1]:.2f} s, "
                  f"TLS {stores['tls'][-1]:.2f} s", flush=True)
    finally:
        listener.terminate()
        listener.wait(20)

    q = {mode: statistics.median(values) for mode, values in query.items()}
    s = {mode: statistics.median(values) for mode, values in stores.items()}
    mb = sum(path.stat().st_size for path in images) / 1e6
    q_ratio, s_ratio = q["tls"] / q["plain"], s["tls"] / s["plain"]
    n_queries = len(query["plain"])
    spread = lambda mode: f"{min(stores[mode]):.2f} – {max(stores[mode]):.2f} s"  # noqa: E731
    query_client = {mode: CLIENT_CPU[mode] - store_client_cpu[mode] for mode in query}
    verdict = lambda ratio, target: "met" if ratio <= target else "NOT met"  # noqa: E731
    markdown = f"""
| measure ({args.steps} scheduled steps, {rounds} rounds, both ports of one `rundicom`) | plain TCP | TLS (mutual) | TLS / plain | target |
| --- | --- | --- | --- | --- |
| MWL selective query (station + today), one `findscu` process, median of {len(query['plain'])} | {q['plain'] * 1000:.1f} ms | {q['tls'] * 1000:.1f} ms | {q_ratio:.2f}× | ≤ {QUERY_TARGET}× ({verdict(q_ratio, QUERY_TARGET)}) |
| C-STORE of {IMAGES} CT images 512x512x16 ({mb:.0f} MB), one `storescu`, median of {rounds} | {s['plain']:.2f} s ({mb / s['plain']:.0f} MB/s) | {s['tls']:.2f} s ({mb / s['tls']:.0f} MB/s) | {s_ratio:.2f}× | ≤ {STORE_TARGET}× ({verdict(s_ratio, STORE_TARGET)}) |
| the same, fastest – slowest round | {spread('plain')} | {spread('tls')} | | |
| CPU per query, listener + findscu (mean) | {(query_cpu['plain'] + query_client['plain']) / n_queries * 1000:.1f} ms | {(query_cpu['tls'] + query_client['tls']) / n_queries * 1000:.1f} ms | {(query_cpu['tls'] + query_client['tls']) / (query_cpu['plain'] + query_client['plain']):.2f}× | |
| CPU for the C-STORE rounds, listener / storescu (all rounds) | {cpu['plain']:.1f} s / {store_client_cpu['plain']:.1f} s | {cpu['tls']:.1f} s / {store_client_cpu['tls']:.1f} s | {cpu['tls'] / cpu['plain']:.2f}× / {store_client_cpu['tls'] / store_client_cpu['plain']:.2f}× | |

Each `findscu` is a whole process: connect, (TLS handshake with client certificate, ECDHE + P-256 keys,) association,
query, release, as a modality asks for its worklist. The ports alternate within each round, and the order of the
ports alternates between rounds, so both meet the same load. DCMTK as shipped (Nagle on) with its default TLS profile
(non-downgrading BCP 195); the listener and the clients share the machine's cores (load average
{os.getloadavg()[0]:.1f} at the end). Wall times move with the machine's load; the CPU rows (the
listener's from /proc, the DCMTK processes' from getrusage) show what TLS itself costs.
"""
    print(markdown)
    from bench.report import write_section

    write_section("tls", "## DICOM over TLS — `bench/tls.py`\n" + markdown)


if __name__ == "__main__":
    main()
