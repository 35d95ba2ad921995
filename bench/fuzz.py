"""The fuzzing campaign: generated hostile input against the real `rundicom` and `runhl7` listeners.

    .venv/bin/python bench/fuzz.py [--cases N] [--seed S] [--kinds K ...] [--max-seconds T]
                                   [--database-url URL] [--report docs/robustness.md]

Starts both listeners as child processes on free ports on 127.0.0.1 with a scratch BROKER_DATA_DIR (a migrated
SQLite database there, or the PostgreSQL database named by --database-url, which is migrated and then holds the
campaign's rows), seeds a few orders through HL7, then sends the cases of every kind (bench/fuzz_cases/) in
batches. After every batch: both processes alive, a good ORM^O01 answered AA and a C-ECHO answered Success,
each within --health-timeout. Per case it records what the listener did (ACK code, DICOM status, association
rejected/aborted, connection closed, no answer = hang); at the end it scans the listeners' logs for tracebacks,
writes the report and exits non-zero on any crash, hang, failed health check, traceback or lost order.
Only 127.0.0.1 is ever contacted; every loop is bounded in count and in time.
"""
import argparse
import collections
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench.fuzz_cases import HEAVY_KINDS, KINDS, Case, Seed, department_today  # noqa: E402
from bench.fuzz_cases import hl7 as hl7_cases  # noqa: E402
from broker.core.hl7v2.mllp import FrameDecoder  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

PYTHON = sys.executable
MWL = "1.2.840.10008.5.1.4.31"
MPPS = "1.2.840.10008.3.1.2.3.3"
VERIFICATION = "1.2.840.10008.1.1"
CT, MR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT, EXPLICIT, EXPLICIT_BE, JPEG = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                                         "1.2.840.10008.1.2.4.50")
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF", 5: "A-RELEASE-RQ",
             6: "A-RELEASE-RP", 7: "A-ABORT"}
# Outcomes that fail the campaign (besides crashes, failed health checks and tracebacks).
FAILING_OUTCOMES = ("hang", "lost")


def quiet_libraries() -> None:
    from pydicom import config

    warnings.filterwarnings("ignore", module="pydicom")
    config.settings.writing_validation_mode = config.IGNORE
    config.settings.reading_validation_mode = config.IGNORE
    for name in ("pydicom", "pynetdicom"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


# --- the listeners ------------------------------------------------------------------------------------------------

class Listeners:
    """`manage.py rundicom` and `manage.py runhl7` as child processes, their output in log files."""

    READY = {"dicom": re.compile(r"DICOM listener ready on [\d.]+:(\d+)"),
             "hl7": re.compile(r"HL7 listener ready on [\d.]+:(\d+)")}
    COMMANDS = {"dicom": "rundicom", "hl7": "runhl7"}

    def __init__(self, work: Path, database_url: str | None):
        self.work = work
        self.env = dict(os.environ, BROKER_DATA_DIR=str(work), BROKER_HOST="127.0.0.1", PYTHONUNBUFFERED="1",
                        BROKER_LOG_LEVEL="WARNING", DJANGO_DEBUG="false",
                        # The seeded HL7 kinds leave ~1,800 steps for today, so every universal C-FIND case was a
                        # 1,000-response answer. The listener streamed each in 1-2 s, but the campaign's client
                        # (4 pynetdicom threads under one GIL) took 4-6 s to read them, and a small answer on
                        # another thread then waited 5 s in the client: counted as a hang although the listener
                        # had answered it in 2 ms (its query log). Large answers are measured where they belong
                        # (tests/mwl, bench/mwl_query.py); here the cap keeps the client from being the bottleneck.
                        BROKER_MWL_MAX_RESULTS="100")
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "BROKER_REQUIRE_KNOWN_AE"):
            self.env.pop(name, None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.logs: dict[str, Path] = {}
        self.offsets: dict[str, int] = collections.defaultdict(int)
        self.restarts = 0

    def migrate(self) -> None:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=self.env, check=True,
                       timeout=600)

    def start(self, name: str) -> None:
        log = self.work / f"{name}-{self.restarts}.log"
        self.logs.setdefault(name, log)
        if self.logs[name] != log:
            self.logs[name], self.offsets[name] = log, 0
        handle = open(log, "ab")
        self.procs[name] = subprocess.Popen([PYTHON, "manage.py", self.COMMANDS[name], "--port", "0"], cwd=BASE_DIR,
                                            env=self.env, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()

        def ready():
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{self.COMMANDS[name]} exited: {log.read_text(errors='replace')[-2000:]}")
            match = self.READY[name].search(log.read_text(errors="replace"))
            return match and int(match.group(1))
        self.ports[name] = wait_until(ready, 60, 0.05, f"{self.COMMANDS[name]} to be ready")

    def start_all(self) -> None:
        self.migrate()
        for name in self.COMMANDS:
            self.start(name)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def restart(self, name: str) -> None:
        self.restarts += 1
        self.start(name)

    def new_output(self) -> str:
        """What both listeners wrote since the last call."""
        text = []
        for name, log in self.logs.items():
            with open(log, "rb") as handle:
                handle.seek(self.offsets[name])
                data = handle.read()
            self.offsets[name] += len(data)
            text.append(data.decode("utf-8", "replace"))
        return "\n".join(text)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- sending: HL7 -------------------------------------------------------------------------------------------------

def msh10(message: bytes) -> bytes | None:
    """The control ID of a framed message we sent, when its MSH is well formed enough to say."""
    body = message[1:] if message.startswith(b"\x0b") else message
    first = body.split(b"\r", 1)[0]
    if not first.startswith(b"MSH|^~\\&|"):
        return None
    fields = first.split(b"|")
    return fields[9] if len(fields) > 9 else None


def read_frame(sock, decoder, deadline: float) -> bytes | str:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return "timeout"
        except ConnectionError:
            return "closed"
        if not chunk:
            return "closed"
        frames = decoder.feed(chunk)
        if frames:
            return frames[0]


def ack_code(reply: bytes) -> tuple[str, bytes | None]:
    for segment in reply.split(b"\r"):
        if segment.startswith(b"MSA|"):
            fields = segment.split(b"|")
            return fields[1].decode("ascii", "replace")[:2] or "MSA-1 empty", fields[2] if len(fields) > 2 else b""
    return "reply without MSA", None


def send_hl7(runner, case: Case) -> tuple[str, str]:
    """Outcome of the last message of the case, and an anomaly note ('' when none)."""
    timeout = runner.case_timeout
    try:
        sock = socket.create_connection(("127.0.0.1", runner.listeners.ports["hl7"]), timeout=timeout)
    except OSError as exc:
        return f"connect failed ({type(exc).__name__})", ""
    decoder = FrameDecoder(64 * 1024 * 1024)
    outcome, anomaly = "", ""
    try:
        for message in case.payload:
            try:
                sock.settimeout(timeout)
                sock.sendall(message)
            except TimeoutError:
                return "hang", "the listener stopped reading while the frame was sent"
            except OSError:
                return "closed", ""
            wait = timeout if case.expect_reply else 0.3
            reply = read_frame(sock, decoder, time.monotonic() + wait)
            if reply == "timeout":
                return ("hang" if case.expect_reply else "waiting"), ""
            if reply == "closed":
                return "closed", ""
            outcome, echoed = ack_code(reply)
            sent = msh10(message)
            if sent is not None and echoed is not None and echoed != sent and outcome in ("AA", "AE", "AR"):
                anomaly = f"MSA-2 {echoed[:40]!r} does not echo MSH-10 {sent[:40]!r}"
        accession = case.extra.get("check_accession")
        if accession and outcome == "AA":
            matches = runner.session().find_accession(accession)
            if matches == 0:
                return "lost", "answered AA, but the order is not in the worklist"
        return outcome, anomaly
    finally:
        sock.close()


# --- sending: DICOM -----------------------------------------------------------------------------------------------

def install_raw_encoding() -> None:
    """Let a data set carry its own bytes: pynetdicom then sends them as they are (no re-encoding)."""
    import pynetdicom.association as association

    if getattr(association.encode, "fuzz_raw_aware", False):
        return
    original = association.encode

    def encode(ds, *args, **kwargs):
        raw = getattr(ds, "fuzz_raw", None)
        return raw if raw is not None else original(ds, *args, **kwargs)
    encode.fuzz_raw_aware = True
    association.encode = encode


def raw_dataset(raw: bytes, **elements):
    from pydicom.dataset import Dataset

    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    object.__setattr__(ds, "fuzz_raw", raw)
    return ds


class DicomSession:
    """A new association for every case (the one before it released).

    Reusing one association per pool thread from case to case made about one case in 300 a "hang": a small
    C-FIND or C-STORE whose answer the listener's own log shows it sent within 2-30 ms, while py-spy showed
    both processes idle and the client waiting out its DIMSE timeout. With a new association per case, 1,000
    such cases gave none, and DCMTK's findscu sending 300 queries on each of 4 associations at once (1,200 in
    5 s) gave none either: the stall is in pynetdicom's requestor reusing an association after these answers,
    not in the listener. pynetdicom's network_timeout (an idle timer restarted only when a PDU arrives) stays
    off for the same reason: set to the case deadline it aborted the client's own idle associations.
    """

    def __init__(self, port: int, timeout: float):
        from pynetdicom import AE

        self.port, self.timeout = port, timeout
        self.ae = AE(ae_title="FUZZ")
        self.ae.acse_timeout = self.ae.dimse_timeout = timeout
        self.ae.network_timeout = None
        self.ae.add_requested_context(MWL, [IMPLICIT])
        self.ae.add_requested_context(MPPS, [IMPLICIT])
        self.ae.add_requested_context(VERIFICATION, [IMPLICIT])
        for syntax in (IMPLICIT, EXPLICIT, EXPLICIT_BE, JPEG):
            self.ae.add_requested_context(CT, [syntax])
        self.ae.add_requested_context(MR, [IMPLICIT])
        self.assoc = None

    def association(self):
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = self.ae.associate("127.0.0.1", self.port, ae_title="BROKER")
        # pynetdicom's reactor polls every 1 ms when idle: with a few associations open that is the
        # campaign's main CPU cost on a 2-core machine shared with the listeners. 5 ms is plenty here.
        self.assoc.dul._run_loop_delay = 0.005
        if not self.assoc.is_established:
            outcome = "association rejected" if self.assoc.is_rejected else "association aborted"
            self.assoc = None
            raise AssociationFailed(outcome)
        return self.assoc

    def ended(self, started: float) -> str:
        """Why an operation got no status: the DIMSE timeout (a hang) or the listener ending the association."""
        assoc, self.assoc = self.assoc, None
        if time.monotonic() - started >= self.timeout * 0.9:
            if assoc is not None and assoc.is_alive():
                assoc.abort()
            return "hang"
        return "association aborted" if assoc is not None and assoc.is_aborted else "connection closed"

    def find(self, raw: bytes) -> tuple[str, str]:
        assoc = self.association()
        started = time.monotonic()
        matches, comment = 0, ""
        for status, _ in assoc.send_c_find(raw_dataset(raw), MWL):
            if "Status" not in status:
                outcome = self.ended(started)
                return outcome, (f"nothing more after {matches} pending response(s), "
                                 f"{time.monotonic() - started:.1f} s" if outcome == "hang" else "")
            if status.Status in (0xFF00, 0xFF01):
                matches += 1
                continue
            comment = str(status.get("ErrorComment", ""))
            label = f"0x{status.Status:04X}"
            if status.Status == 0:
                label += " (matches)" if matches else " (no match)"
            return label, comment
        return self.ended(started), ""

    def find_accession(self, accession: str) -> int:
        from bench.fuzz_cases.dimse import identifier

        seed = Seed(department_today(), [])
        raw = identifier(seed, top={(0x0008, 0x0050): accession.encode()})
        outcome, _ = self.find(raw)
        return 1 if "(matches)" in outcome else 0

    def mpps(self, ops: list) -> tuple[str, str]:
        statuses, comment = [], ""
        for operation, uid, data in ops:
            assoc = self.association()
            ds = raw_dataset(data) if isinstance(data, bytes) else data
            started = time.monotonic()
            if operation == "create":
                status, _ = assoc.send_n_create(ds, MPPS, uid)
            else:
                status, _ = assoc.send_n_set(ds, MPPS, uid)
            if "Status" not in status:
                statuses.append(self.ended(started))
                break
            statuses.append(f"0x{status.Status:04X}")
            comment = str(status.get("ErrorComment", comment))
        return " > ".join(statuses), comment

    def store(self, payload: dict) -> tuple[str, str]:
        from pydicom.dataset import FileMetaDataset
        from pynetdicom.dsutils import encode

        ds, syntax = payload["dataset"], payload["syntax"]
        raw = payload["raw"]
        if raw is None:
            raw = encode(ds, syntax == IMPLICIT, syntax != EXPLICIT_BE)
        carrier = raw_dataset(raw, SOPClassUID=payload["sop_class"] or ds.get("SOPClassUID", CT),
                              SOPInstanceUID=payload["sop_instance"] or ds.get("SOPInstanceUID", ""))
        carrier.file_meta = FileMetaDataset()
        carrier.file_meta.TransferSyntaxUID = syntax
        assoc = self.association()
        started = time.monotonic()
        status = assoc.send_c_store(carrier)
        if "Status" not in status:
            return self.ended(started), ""
        return f"0x{status.Status:04X}", str(status.get("ErrorComment", ""))


class AssociationFailed(Exception):
    pass


def send_dicom(runner, case: Case) -> tuple[str, str]:
    session = runner.session()
    try:
        if case.channel == "find":
            return session.find(case.payload)
        if case.channel == "mpps":
            return session.mpps(case.payload)
        return session.store(case.payload)
    except AssociationFailed as failed:
        return str(failed), ""
    except (ValueError, AttributeError, TypeError) as refused:  # pynetdicom would not send it as asked
        session.assoc = None
        return "not sent (client refused)", f"{type(refused).__name__}: {str(refused)[:80]}"


# --- sending: raw PDUs --------------------------------------------------------------------------------------------

def read_pdu_type(sock, deadline: float) -> str:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return "timeout"
    sock.settimeout(remaining)
    try:
        data = sock.recv(6)
    except TimeoutError:
        return "timeout"
    except ConnectionError:
        return "closed"
    if not data:
        return "closed"
    return PDU_NAMES.get(data[0], f"PDU type 0x{data[0]:02x}")


def send_pdu(runner, case: Case) -> tuple[str, str]:
    try:
        sock = socket.create_connection(("127.0.0.1", runner.listeners.ports["dicom"]), timeout=runner.case_timeout)
    except OSError as exc:
        return f"connect failed ({type(exc).__name__})", ""
    try:
        answer = ""
        for i, chunk in enumerate(case.payload):
            try:
                sock.sendall(chunk)
            except OSError:
                return "closed", ""
            last = i == len(case.payload) - 1
            wait = runner.case_timeout if (case.expect_reply or not last) else 0.5
            answer = read_pdu_type(sock, time.monotonic() + wait)
            if answer == "timeout":
                return ("hang" if case.expect_reply else "waiting"), ""
            if answer == "closed" or not last and answer != "A-ASSOCIATE-AC":
                return answer, "" if last else "before the broken P-DATA"
            # drain the rest of this PDU so the next read starts at a PDU boundary
            sock.settimeout(0.2)
            try:
                sock.recv(65536)
            except (TimeoutError, ConnectionError):
                pass
        if answer == "A-ASSOCIATE-AC":
            sock.sendall(b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00")  # A-ABORT: free the slot at once
        return answer, ""
    except OSError:
        return "closed", ""
    finally:
        sock.close()


SENDERS = {"hl7": send_hl7, "find": send_dicom, "mpps": send_dicom, "store": send_dicom, "pdu": send_pdu}


# --- tracebacks ---------------------------------------------------------------------------------------------------

def tracebacks_in(text: str) -> list[tuple[str, str]]:
    """(log line before it, final exception line) for every traceback in the text."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        # the log record that carried it: the nearest line above that starts with a timestamp
        context = next((lines[k].strip() for k in range(i - 1, max(i - 400, -1), -1)
                        if re.match(r"\d{4}-\d\d-\d\d ", lines[k])), "")
        j = i + 1
        while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
            j += 1
        exception = lines[j].strip() if j < len(lines) else "(end of log)"
        # A chained traceback ("During handling ...") counts once, by its last exception.
        k = j + 1
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k < len(lines) and (lines[k].startswith("During handling") or lines[k].startswith("The above exception")):
            continue
        found.append((context, exception))
    return found


def signature(exception_line: str) -> str:
    return re.sub(r"0x[0-9a-f]+|\d{3,}", "N", exception_line)[:160]


# --- the campaign -------------------------------------------------------------------------------------------------

@dataclass
class KindResult:
    channel: str
    cases: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    examples: dict = field(default_factory=dict)  # outcome -> (note, comment)
    anomalies: collections.Counter = field(default_factory=collections.Counter)
    anomaly_examples: dict = field(default_factory=dict)
    tracebacks: collections.Counter = field(default_factory=collections.Counter)
    crashes: list = field(default_factory=list)
    health_failures: int = 0
    stopped: str = ""
    seconds: float = 0.0  # wall time of its batches and of the health checks after them

    def failures(self) -> list[str]:
        reasons = [f"{self.outcomes[o]} {o}" for o in FAILING_OUTCOMES if self.outcomes[o]]
        reasons += [f"{n} traceback(s): {sig}" for sig, n in self.tracebacks.items()]
        reasons += [f"listener died: {c}" for c in self.crashes]
        if self.health_failures:
            reasons.append(f"{self.health_failures} failed health check(s) after its batches")
        return reasons


@dataclass
class CampaignResult:
    command: str
    seed: int
    kinds: dict
    health_passed: int = 0
    health_failed: list = field(default_factory=list)
    tracebacks: dict = field(default_factory=dict)  # signature -> {"count", "context", "exception", "kinds"}
    seconds: float = 0.0
    stopped_early: str = ""
    database: str = "SQLite (WAL)"

    @property
    def crashes(self) -> int:
        return sum(len(k.crashes) for k in self.kinds.values())

    @property
    def hangs(self) -> int:
        return sum(k.outcomes["hang"] for k in self.kinds.values())

    @property
    def lost(self) -> int:
        return sum(k.outcomes["lost"] for k in self.kinds.values())

    @property
    def traceback_count(self) -> int:
        return sum(t["count"] for t in self.tracebacks.values())

    @property
    def cases(self) -> int:
        return sum(k.cases for k in self.kinds.values())

    def failing_kinds(self) -> dict[str, list[str]]:
        return {name: k.failures() for name, k in self.kinds.items() if k.failures()}

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.hangs or self.lost or self.traceback_count or self.health_failed)


class Campaign:
    def __init__(self, *, cases=20000, seed=1, kinds=None, max_seconds=840.0, case_timeout=5.0, workers=4,
                 batch=100, health_timeout=10.0, max_hangs_per_kind=5, recovery_seconds=60.0, time_share=1.5,
                 database_url=None, work_dir=None, command="", progress=print):
        unknown = set(kinds or ()) - set(KINDS)
        if unknown:
            raise SystemExit(f"unknown kinds: {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
        self.kind_names = list(kinds or KINDS)
        self.total, self.seed, self.max_seconds = cases, seed, max_seconds
        self.case_timeout, self.workers, self.batch = case_timeout, workers, batch
        self.health_timeout, self.max_hangs = health_timeout, max_hangs_per_kind
        self.recovery_seconds = recovery_seconds
        self.time_share = time_share
        self.database_url, self.progress = database_url, progress
        self.own_work = work_dir is None
        self.work = Path(work_dir or tempfile.mkdtemp(prefix="broker-fuzz-"))
        self.listeners = Listeners(self.work, database_url)
        self.local = threading.local()
        self.hang_lock, self.batch_hangs, self.batch_deadline = threading.Lock(), 0, float("inf")
        self.heavy_lock = threading.Lock()  # HEAVY_KINDS run one case at a time
        self.result = CampaignResult(command, seed, {n: KindResult(KINDS[n][0]) for n in self.kind_names},
                                     database="PostgreSQL" if database_url else "SQLite (WAL)")

    def session(self) -> DicomSession:
        port = self.listeners.ports["dicom"]
        session = getattr(self.local, "session", None)
        if session is None or session.port != port:
            session = self.local.session = DicomSession(port, self.case_timeout)
        return session

    # seeding and health ---------------------------------------------------------------------------------------

    def seed_orders(self) -> Seed:
        today = department_today()
        orders = []
        names = ["FUZZ^SEED^A", "MÜLLER^JÜRGEN", "O'BRIEN^SEAN", "SEED^" + "LONGNAME" * 7, "山田^太郎"]
        for i, name in enumerate(names):
            control = f"FZSEED{self.seed}-{i}"
            order = dict(accession=f"FZSEEDACC{i}", study_uid=f"1.2.826.0.1.3680043.10.1455.77.{self.seed}.{i}",
                         patient_id=f"FZSEEDP{i}", name=name[:64], rp_id=f"RP{control}", sps_id=f"SPS{control}",
                         control=control)
            message = hl7_cases.join(hl7_cases.order_segments(
                Seed(today, []), i, control=control, placer=f"FZSEED{i}", accession=order["accession"],
                study_uid=order["study_uid"], name=order["name"], patient_id=order["patient_id"]))
            outcome, _ = send_hl7(self, Case("seed", "hl7", [hl7_cases.framed(message)]))
            if outcome != "AA":
                raise RuntimeError(f"seeding order {i} was answered {outcome}, not AA")
            orders.append(order)
        return Seed(today, orders)

    def healthy(self) -> str:
        """'' when both listeners are alive and answer a good order and a C-ECHO in time; else what failed."""
        from pynetdicom import AE

        dead = self.listeners.dead()
        if dead:
            return "dead: " + ", ".join(dead)
        problems = []
        started = time.monotonic()
        message = hl7_cases.join(hl7_cases.good_order(random.Random(0), Seed(department_today(), []))[0])
        saved, self.case_timeout = self.case_timeout, self.health_timeout
        try:
            outcome, _ = send_hl7(self, Case("health", "hl7", [hl7_cases.framed(message)]))
        finally:
            self.case_timeout = saved
        if outcome != "AA":
            problems.append(f"good ORM answered {outcome} after {time.monotonic() - started:.1f} s")
        ae = AE(ae_title="FUZZHEALTH")
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.health_timeout
        ae.add_requested_context(VERIFICATION)
        started = time.monotonic()
        assoc = ae.associate("127.0.0.1", self.listeners.ports["dicom"], ae_title="BROKER")
        status = assoc.send_c_echo() if assoc.is_established else None
        if assoc.is_established:
            assoc.release()
        elapsed = time.monotonic() - started
        if status is None or status.get("Status") != 0 or elapsed > self.health_timeout:
            problems.append(f"C-ECHO failed after {elapsed:.1f} s")
        return "; ".join(problems)

    def wait_until_idle(self) -> None:
        """After a batch with hangs: let the listeners finish the work we gave up on (their CPU time stops
        growing), so that its log lines and tracebacks are counted under this kind, not the next one."""
        from bench.support import cpu_seconds

        deadline = time.monotonic() + self.recovery_seconds
        last = None
        while time.monotonic() < deadline:
            try:
                now = sum(cpu_seconds(proc.pid) for proc in self.listeners.procs.values())
            except (OSError, IndexError):
                return
            if last is not None and now - last < 0.05:  # under 10 % of a core over the last half second
                return
            last = now
            time.sleep(0.5)  # the sampling interval of a bounded wait

    def check_after_batch(self, name: str) -> None:
        kind = self.result.kinds[name]
        if self.batch_hangs:
            self.wait_until_idle()
        for dead in self.listeners.dead():
            code = self.listeners.procs[dead].returncode
            kind.crashes.append(f"{Listeners.COMMANDS[dead]} exited with status {code}")
            self.progress(f"  !! {Listeners.COMMANDS[dead]} died (status {code}) after a batch of {name}; restarting")
            self.listeners.restart(dead)
        problem = self.healthy()
        if not problem:
            self.result.health_passed += 1
        else:
            kind.health_failures += 1
            recovered = self.wait_for_recovery()
            self.result.health_failed.append((name, problem, recovered))
            self.progress(f"  !! health check after {name} failed: {problem} ({recovered})")
        self.scan_logs(name)

    def wait_for_recovery(self) -> str:
        """After a failed health check: wait (bounded) until the listeners answer again, so that the next
        kind's cases are not blamed for this one's leftovers."""
        limit, started = self.recovery_seconds, time.monotonic()
        while time.monotonic() - started < limit:
            if not self.healthy():
                return f"healthy again after {time.monotonic() - started:.0f} s"
            time.sleep(0.2)  # polling interval of a bounded wait
        return f"still failing after {limit:.0f} s"

    def scan_logs(self, name: str | None) -> None:
        """Count the tracebacks written since the last scan under kind `name` (None: while stopping)."""
        for context, exception in tracebacks_in(self.listeners.new_output()):
            sig = signature(exception)
            if name is not None:
                self.result.kinds[name].tracebacks[sig] += 1
            entry = self.result.tracebacks.setdefault(sig, {"count": 0, "context": context, "exception": exception,
                                                            "kinds": collections.Counter()})
            entry["count"] += 1
            entry["kinds"][name or "(while stopping)"] += 1

    # running ----------------------------------------------------------------------------------------------------

    def plan(self) -> list[tuple[str, int]]:
        """Batches: every kind's share of the cases, in batches of at most `batch`, kinds taking turns."""
        share, extra = divmod(self.total, len(self.kind_names))
        left = {n: share + (1 if i < extra else 0) for i, n in enumerate(self.kind_names)}
        batches = []
        while any(left.values()):
            for name in self.kind_names:
                if left[name]:
                    size = min(self.batch, left[name])
                    batches.append((name, size))
                    left[name] -= size
        return batches

    def run_case(self, case: Case) -> tuple[str, str, str] | None:
        """The case's (outcome, detail, note); None when its kind already hung too often (not sent)."""
        with self.hang_lock:
            if self.batch_hangs >= self.max_hangs or time.monotonic() > self.batch_deadline:
                return None
        try:
            if case.kind in HEAVY_KINDS:
                with self.heavy_lock:
                    outcome, detail = SENDERS[case.channel](self, case)
            else:
                outcome, detail = SENDERS[case.channel](self, case)
        except Exception as exc:  # noqa: BLE001  a fault of the campaign itself, reported as such
            outcome, detail = "campaign error", f"{type(exc).__name__}: {str(exc)[:100]}"
        if outcome == "hang":
            with self.hang_lock:
                self.batch_hangs += 1
            self.progress(f"hang in {case.kind}: {case.note[:80]}" + (f" ({detail})" if detail else ""))
        return outcome, detail, case.note

    def run(self) -> CampaignResult:
        quiet_libraries()
        install_raw_encoding()
        started = time.monotonic()
        rngs = {name: random.Random(f"{self.seed}/{name}") for name in self.kind_names}
        try:
            self.listeners.start_all()
            seed = self.seed_orders()
            self.listeners.new_output()  # startup lines are not findings
            batches = self.plan()
            share = self.time_share * self.max_seconds / len(self.kind_names)
            with ThreadPoolExecutor(self.workers) as pool:
                for number, (name, size) in enumerate(batches, 1):
                    if time.monotonic() - started > self.max_seconds:
                        self.result.stopped_early = (f"stopped by --max-seconds {self.max_seconds:.0f} before batch "
                                                     f"{number} of {len(batches)}")
                        break
                    kind = self.result.kinds[name]
                    if kind.stopped:
                        continue
                    # A kind whose cases are slow (or hang) must not starve the others of the time budget.
                    if kind.seconds > share:
                        kind.stopped = f"stopped after its time share of {share:.0f} s"
                        continue
                    generator = KINDS[name][1]
                    batch_started = time.monotonic()
                    cases = [generator(rngs[name], seed) for _ in range(size)]
                    self.batch_hangs = kind.outcomes["hang"]
                    # Every kind gets its first batch: while some have had none, a batch may use no more than
                    # an even part of the time left.
                    unstarted = sum(1 for k in self.result.kinds.values() if not k.cases and not k.stopped)
                    generated = time.monotonic()  # building big cases can take a while: not the listener's time
                    left = self.max_seconds - (generated - started)
                    allowed = min(share - kind.seconds, left / unstarted) if unstarted else share - kind.seconds
                    self.batch_deadline = generated + max(allowed, 1.0)
                    skipped = 0
                    for done in pool.map(self.run_case, cases):
                        if done is None:
                            skipped += 1
                            continue
                        outcome, detail, note = done
                        kind.cases += 1
                        kind.outcomes[outcome] += 1
                        kind.examples.setdefault(outcome, (note, detail))
                        if detail and outcome not in FAILING_OUTCOMES and outcome in ("AA", "AE", "AR"):
                            kind.anomalies["MSA-2 does not echo MSH-10"] += 1
                            kind.anomaly_examples.setdefault("MSA-2 does not echo MSH-10", (note, detail))
                    if kind.outcomes["hang"] >= self.max_hangs:
                        kind.stopped = f"stopped after {kind.outcomes['hang']} hangs"
                    elif skipped:
                        kind.stopped = f"stopped after its time share of {share:.0f} s"
                    self.check_after_batch(name)
                    kind.seconds += time.monotonic() - batch_started
                    if number % 10 == 0 or kind.stopped:
                        self.progress(f"batch {number}/{len(batches)} {name}: {dict(kind.outcomes)} "
                                      f"({time.monotonic() - started:.0f} s)")
        finally:
            self.listeners.stop()
            self.result.seconds = time.monotonic() - started
            self.scan_logs(None)
        return self.result

    def cleanup(self) -> None:
        if self.own_work:
            shutil.rmtree(self.work, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------------------------------

def outcomes_text(counter: collections.Counter) -> str:
    return " · ".join(f"{name} {count}" for name, count in counter.most_common())


def md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def report_markdown(result: CampaignResult) -> str:
    from bench.report import machine_line

    lines = [
        "# Robustness: the fuzzing campaign",
        "",
        "`bench/fuzz.py` starts the real `manage.py rundicom` and `manage.py runhl7` as child processes on free "
        "ports on 127.0.0.1 (a scratch data directory, a migrated database), seeds five orders through HL7 (one "
        "with a 60-character name, two with non-ASCII names) and sends generated hostile input, each kind from its "
        "own named generator in `bench/fuzz_cases/`. After every batch (at most 100 cases of one kind) both "
        "processes must be alive and a good ORM^O01 must get `AA` and a C-ECHO Success, each within the health "
        "deadline. At the end the listeners' logs are scanned for tracebacks. `tests/fuzz/test_fuzz_slice.py` runs a "
        "300-case slice of the same code in `make test`.",
        "",
        "A batch's cases go out from several client threads at once (`--workers`), except for the kinds whose "
        "every case costs the listener a second or more of CPU (" + ", ".join(f"`{k}`" for k in sorted(HEAVY_KINDS))
        + "): they go one at a time, so that their deadline measures one answer, not a queue the campaign made.",
        "",
        "Outcome classes: an HL7 ACK code (`AA`/`AE`/`AR`); a DICOM status (`0x0000 (matches)`, `0xA900`, ...; "
        "an MPPS case with several operations shows each status, `>` between them); `association rejected` / "
        "`association aborted`; `connection closed` / `closed` (the listener closed the connection without an "
        "answer); `hang` (no answer within the per-case deadline where one is due); `waiting` (no answer where a "
        "correct peer keeps waiting for the rest: a frame without end block, half a PDU header — not a failure; "
        "exhaustion through such connections is the exhaustion checks' subject); `lost` (answered `AA` but the "
        "order is not in the worklist); `not sent (client refused)` (pynetdicom would not encode it).",
        "",
        "Tracebacks are attributed to the kind whose batch ran when they were written; a hang can leave work "
        "running in the listener that shows up in the next batch's log.",
        "",
        "## The last run",
        "",
        f"- command: `{result.command}`",
        f"- seed: {result.seed} · database: {result.database} · {result.cases:,} cases over {len(result.kinds)} kinds "
        f"in {result.seconds:.0f} s" + (f" · **{result.stopped_early}**" if result.stopped_early else ""),
        f"- crashes (a listener died): **{result.crashes}** · hangs: **{result.hangs}** · lost orders: "
        f"**{result.lost}** · tracebacks: **{result.traceback_count}** ({len(result.tracebacks)} distinct) · health "
        f"checks passed: **{result.health_passed}**, failed: **{len(result.health_failed)}**",
        f"- verdict: **{'pass' if result.ok else 'FAIL'}**",
        f"- machine: {machine_line()}",
        "",
        "## Outcomes per kind",
        "",
        "| kind | channel | cases | seconds | outcomes | hangs | tracebacks | crashes | failed health checks |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, kind in result.kinds.items():
        stopped = f" ({kind.stopped})" if kind.stopped else ""
        lines.append(f"| `{name}` | {kind.channel} | {kind.cases}{stopped} | {kind.seconds:.0f} | "
                     f"{md(outcomes_text(kind.outcomes))} | "
                     f"{kind.outcomes['hang']} | {sum(kind.tracebacks.values())} | {len(kind.crashes)} | "
                     f"{kind.health_failures} |")
    lines += ["", "## Crashes", ""]
    crashes = [(n, c) for n, k in result.kinds.items() for c in k.crashes]
    lines += [f"- after `{n}`: {c}" for n, c in crashes] or ["None."]
    lines += ["", "## Hangs and lost orders (one example per kind)", ""]
    hung = [(n, o, k.outcomes[o], k.examples[o]) for n, k in result.kinds.items() for o in FAILING_OUTCOMES
            if k.outcomes[o]]
    lines += [f"- `{n}`: {count} {o}; e.g. {md(ex[0])}" + (f" — {md(ex[1])}" if ex[1] else "")
              for n, o, count, ex in hung] or ["None."]
    lines += ["", "## Failed health checks", ""]
    lines += [f"- after `{n}`: {md(p)} ({r})" for n, p, r in result.health_failed] or ["None."]
    lines += ["", "## Tracebacks in the listeners' logs", ""]
    if result.tracebacks:
        lines += ["| count | log line | exception | kinds |", "| ---: | --- | --- | --- |"]
        for entry in sorted(result.tracebacks.values(), key=lambda e: -e["count"]):
            kinds = ", ".join(f"{k} {n}" for k, n in entry["kinds"].most_common())
            context = re.sub(r"^\S+ \S+ ", "", entry["context"])  # without the timestamp
            lines.append(f"| {entry['count']} | {md(context[:160])} | {md(entry['exception'][:200])} | {md(kinds)} |")
    else:
        lines.append("None.")
    lines += ["", "## Other observations (not failures)", ""]
    other = [(n, a, c, k.anomaly_examples[a]) for n, k in result.kinds.items() for a, c in k.anomalies.items()]
    lines += [f"- `{n}`: {c}× {a}; e.g. {md(ex[0])}: {md(ex[1])}" for n, a, c, ex in other] or ["None."]
    lines += ["", "## One example per kind and outcome", "",
              "Each line: the outcome, then the case that first produced it (and the Error Comment or detail).", ""]
    for name, kind in result.kinds.items():
        parts = [f"{md(o)}: {md(note)}" + (f" ({md(detail[:100])})" if detail else "")
                 for o, (note, detail) in kind.examples.items()]
        lines.append(f"- `{name}` — " + "; ".join(parts))
    return "\n".join(lines) + "\n"


START, END = "<!-- fuzz:last-run -->", "<!-- /fuzz:last-run -->"


def write_report(path: Path, generated: str) -> None:
    """Replace the generated part of the report; what was written by hand outside the markers stays."""
    body = f"{START}\n{generated.strip()}\n{END}"
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + body + text[text.index(END) + len(END):]
    else:
        text = body + "\n"
    path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", nargs="*", default=None, help=f"a subset of: {' '.join(KINDS)}")
    parser.add_argument("--max-seconds", type=float, default=840.0, help="stop starting batches after this")
    parser.add_argument("--case-timeout", type=float, default=5.0, help="no answer within this = hang")
    parser.add_argument("--health-timeout", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="cases of one batch sent at once")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max-hangs-per-kind", type=int, default=5, help="a kind stops after this many hangs")
    parser.add_argument("--time-share", type=float, default=1.5,
                        help="a kind stops after this multiple of max-seconds / kinds (slow kinds cannot starve others)")
    parser.add_argument("--database-url", default=None, help="a scratch PostgreSQL database (default: SQLite)")
    parser.add_argument("--report", default=None, help="write the Markdown report here (e.g. docs/robustness.md)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch data dir and logs")
    args = parser.parse_args(argv)
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    command = " ".join([".venv/bin/python bench/fuzz.py", *shown])
    campaign = Campaign(cases=args.cases, seed=args.seed, kinds=args.kinds, max_seconds=args.max_seconds,
                        case_timeout=args.case_timeout, workers=args.workers, batch=args.batch,
                        health_timeout=args.health_timeout, max_hangs_per_kind=args.max_hangs_per_kind,
                        time_share=args.time_share,
                        database_url=args.database_url, command=command,
                        progress=lambda line: print(line, flush=True))
    # SIGTERM (a timeout, an operator's kill): stop the listeners and leave at once. By default Python dies and
    # leaves rundicom and runhl7 serving; a SystemExit would first wait for the batch's queued cases.
    def terminate(signum, frame):
        campaign.listeners.stop()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        result = campaign.run()
    finally:
        if args.keep:
            print(f"kept {campaign.work}")
        else:
            campaign.cleanup()
    if args.report:
        write_report(Path(args.report), report_markdown(result))
        print(f"wrote {args.report}")
    print(f"{result.cases} cases, {result.crashes} crashes, {result.hangs} hangs, {result.lost} lost, "
          f"{result.traceback_count} tracebacks, health {result.health_passed} passed / "
          f"{len(result.health_failed)} failed in {result.seconds:.0f} s: {'pass' if result.ok else 'FAIL'}")
    for name, reasons in result.failing_kinds().items():
        print(f"  {name}: {'; '.join(reasons)}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
