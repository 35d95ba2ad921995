"""DCMTK's dcmsend as a C-STORE sender: one run sends a list of files over one association (more if they need
more than 128 presentation contexts) and writes a per-instance report, which is parsed here.

No database here: `sending_dcmtk` turns the results into confirmations and job errors.
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DCMTK_MAX_PDU = 131072  # the largest receive PDU DCMTK accepts; what we send follows the peer's maximum
NO_CONTEXT = "<no acceptable presentation context>"


@dataclass(frozen=True)
class InstanceResult:
    filename: str
    sop_instance_uid: str
    sop_class_uid: str
    original_syntax: str
    network_syntax: str
    status: int | None  # the C-STORE response status; None when the instance was not sent
    note: str  # the report's status text, e.g. "0x0000 (Success)" or "<no acceptable presentation context>"

    @property
    def no_context(self) -> bool:
        return self.note == NO_CONTEXT


@dataclass(frozen=True)
class Run:
    returncode: int
    results: list[InstanceResult]
    errors: str  # dcmsend's own error lines (stderr), for the job's last_error


def available() -> bool:
    return shutil.which("dcmsend") is not None


_FIELD = re.compile(r"^([A-Za-z. ]+?)\s*: (.*)$")
_STATUS = re.compile(r"^0x([0-9a-fA-F]{4})\b")


def parse_report(text: str) -> list[InstanceResult]:
    """The per-instance blocks of a `dcmsend --create-report-file` report (DCMTK 3.6.x layout)."""
    results, block = [], {}

    def close():
        if "Filename" in block:
            match = _STATUS.match(block.get("DIMSE Status", ""))
            results.append(InstanceResult(
                filename=block["Filename"], sop_instance_uid=block.get("SOP Instance", ""),
                sop_class_uid=block.get("SOP Class", "").split(" = ")[0],
                original_syntax=block.get("Original Xfer", "").split(" = ")[0],
                network_syntax=block.get("Network Xfer", "").split(" = ")[0],
                status=int(match.group(1), 16) if match else None, note=block.get("DIMSE Status", "")))
        block.clear()

    for line in text.splitlines():
        field = _FIELD.match(line)
        if field is None:
            continue
        name, value = field.group(1).strip(), field.group(2).strip()
        if name == "Number":
            close()
        block[name] = value
        if name == "DIMSE Status":
            close()
    close()
    return results


def _die_with_parent():  # runs in the child before exec: a killed worker takes its dcmsend along
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def send_files(paths: list[Path], *, host: str, port: int, calling_ae: str, called_ae: str, timeout: float) -> Run:
    """Send the files in one dcmsend run; the report says what became of each."""
    with tempfile.TemporaryDirectory(prefix="dcmsend-") as scratch:
        report = Path(scratch) / "report.txt"
        seconds = str(max(int(timeout), 1))
        argv = ["dcmsend", "-aet", calling_ae, "-aec", called_ae,
                "--no-halt",  # a refused instance does not stop the others; each is in the report
                "--no-uid-checks",  # what we accepted on receive, we send on (as the pynetdicom sender does)
                "-to", seconds, "-ta", seconds, "-td", seconds, "--max-pdu", str(DCMTK_MAX_PDU),
                "--create-report-file", str(report), host, str(port), *map(str, paths)]
        # Without TCP_NODELAY each C-STORE turn waits for a delayed ACK (~40 ms) under Nagle.
        env = {**os.environ, "TCP_NODELAY": "1"}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, preexec_fn=_die_with_parent,
                                  timeout=timeout * (len(paths) + 3))
        except subprocess.TimeoutExpired:
            return Run(returncode=-1, results=[], errors=f"dcmsend did not finish within {timeout * (len(paths) + 3):.0f} s")
        results = parse_report(report.read_text(errors="replace")) if report.exists() else []
    errors = "; ".join(line.strip() for line in done.stderr.splitlines() if line.startswith(("E:", "F:")))
    return Run(returncode=done.returncode, results=results, errors=errors)
