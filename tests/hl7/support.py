"""Actors for the HL7 tests: messages built in code, the sample feed, an in-process listener, ACK readers."""
import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.waiting import wait_until  # noqa: F401  (re-exported for this area's tests)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "hl7"
BASE_DIR = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def seg(name: str, fields: dict[int, str]) -> str:
    if not fields:
        return name
    return name + "|" + "|".join(fields.get(i, "") for i in range(1, max(fields) + 1))


def msh(message_type="ORM^O01", control_id=None, version="2.3.1", charset="", app="TEST_RIS", facility="HOSP",
        processing="P") -> str:
    fields = {3: app, 4: facility, 5: "BROKER", 6: "RADIOLOGY", 7: "20260312081502", 9: message_type,
              10: f"MSG{next(_ids):08d}" if control_id is None else control_id, 11: processing, 12: version}
    if charset:
        fields[18] = charset
    return "MSH|^~\\&|" + "|".join(fields.get(i, "") for i in range(3, max(fields) + 1))


def pid(patient_id="PAT0001", issuer="HOSP", name="DOE^JANE", birth="19700101", sex="F", **extra) -> str:
    fields = {1: "1", 3: f"{patient_id}^^^{issuer}^MR" if patient_id else "", 5: name, 7: birth, 8: sex}
    fields.update(extra)
    return seg("PID", fields)


def orm(control="NW", placer="PL0001", accession="ACC0001", patient=None, status="SC", start="20260315093000",
        modality="CT", code="CTHEAD^CT head^99LOCAL", rp_id="", sps_id="", zds="", version="2.3.1", control_id=None,
        charset="", pv1=None, obr_extra=None, app="TEST_RIS") -> bytes:
    """An ORM^O01 as a v2.3.1 RIS sends it; keyword arguments change one field each."""
    obr = {1: "1", 2: placer, 4: code, 18: accession, 19: rp_id, 20: sps_id, 24: modality, 27: f"^^^{start}^^R"}
    obr.update(obr_extra or {})
    segments = [msh("ORM^O01", control_id, version, charset, app=app), patient or pid(),
                pv1 or seg("PV1", {1: "1", 2: "O", 3: "RAD^R1", 8: "0815^WELBY^MARCUS"}),
                seg("ORC", {1: control, 2: placer, 5: status, 7: f"^^^{start}^^R"}), seg("OBR", obr)]
    if zds:
        segments.append(seg("ZDS", {1: f"{zds}^RIS^Application^DICOM"}))
    return ("\r".join(segments) + "\r").encode(_codec(charset))


def omi(control="NW", placer="PL0001", accession="ACC0001", patient=None, ipcs=None, start="20260317080000",
        control_id=None) -> bytes:
    """An OMI^O23 (v2.5.1) with TQ1 and one IPC per step: ipcs = [(rp_id, uid, sps_id, modality, station_ae), ...]."""
    ipcs = ipcs or [("RP1", "1.2.3.4.1", "SPS1", "CT", "CT01")]
    segments = [msh("OMI^O23^OMI_O23", control_id, "2.5.1", "UNICODE UTF-8"), patient or pid(),
                seg("PV1", {1: "1", 2: "O", 3: "RAD^R1"}), seg("ORC", {1: control, 2: placer, 5: "SC"}),
                seg("TQ1", {1: "1", 7: start, 9: "R"}), seg("OBR", {1: "1", 2: placer, 4: "PROC^Procedure^99LOCAL"})]
    for rp_id, uid, sps_id, modality, station in ipcs:
        segments.append(seg("IPC", {1: accession, 2: rp_id, 3: uid, 4: sps_id, 5: modality,
                                    6: "PROT^Protocol^99PROT", 9: station}))
    return ("\r".join(segments) + "\r").encode("utf-8")


def adt(event="A08", patient=None, mrg=None, control_id=None, pv1_location="") -> bytes:
    segments = [msh(f"ADT^{event}^ADT_A01", control_id, "2.5", "UNICODE UTF-8"), seg("EVN", {1: event}),
                patient or pid()]
    if pv1_location:
        segments.append(seg("PV1", {1: "1", 2: "I", 3: pv1_location}))
    if mrg:
        segments.append(seg("MRG", {1: mrg}))
    return ("\r".join(segments) + "\r").encode("utf-8")


def _codec(charset: str) -> str:
    return {"8859/1": "latin-1", "ASCII": "ascii"}.get(charset, "utf-8")


def segments_of(ack: bytes) -> dict[str, list[str]]:
    found = {}
    for line in ack.decode("utf-8", errors="replace").split("\r"):
        if line:
            found[line[:3]] = line.split("|")
    return found


def msa(ack: bytes) -> tuple[str, str]:
    """(MSA-1 acknowledgment code, MSA-2 control ID)."""
    fields = segments_of(ack)["MSA"]
    return fields[1], fields[2]


def err(ack: bytes) -> list[str] | None:
    return segments_of(ack).get("ERR")


def error_code(ack: bytes) -> str:
    """Table 0357 code of the ERR segment, from ERR-3 (v2.5+) or ERR-1 (v2.3.1/2.4)."""
    fields = err(ack)
    if fields is None:
        return ""
    if len(fields) > 3 and fields[3]:
        return fields[3].split("^")[0]
    return fields[1].split("^")[3].split("&")[0]


class ListenerProcess:
    """`manage.py runhl7 --port 0` as a child process; reads the bound port from its ready line."""

    def __init__(self, database_url: str, extra_env: dict | None = None):
        env = dict(os.environ, DATABASE_URL=database_url, BROKER_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
        env.update(extra_env or {})
        self.proc = subprocess.Popen([sys.executable, str(BASE_DIR / "manage.py"), "runhl7", "--host", "127.0.0.1",
                                      "--port", "0"], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = None
        deadline = time.monotonic() + 60
        while self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"runhl7 exited before it was ready: {''.join(self.lines)}")
            self.lines.append(line)
            match = re.search(r"HL7 listener ready on [\d.]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
            if time.monotonic() > deadline:
                raise AssertionError("runhl7 did not report ready within 60 s")

    def output(self) -> str:
        rest = self.proc.stdout.read() if self.proc.poll() is not None else ""
        return "".join(self.lines) + (rest or "")

    def stop(self, sig=None, timeout: float = 30.0) -> int:
        import signal as _signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or _signal.SIGTERM)
        return self.proc.wait(timeout)
