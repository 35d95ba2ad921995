"""DCMTK's dcmsend as a C-STORE sender: one run sends a list of files over one association (more if they need
more than 128 presentation contexts) and writes a per-instance report, which is parsed here.

While it runs, its log is read line by line so each confirmed instance is reported as soon as its C-STORE
response arrives (`LiveLog`); the report at the end is the authoritative account of the run. The log is
filtered inside dcmsend (a log4cplus configuration, `LOG_CONFIG`) to the few debug lines that say which file
got which response, plus errors: the full debug log would cost as much CPU as the sending itself.

No database here: `sending_dcmtk` turns the results into confirmations and job errors.
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
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


LOG_CONFIG = """\
log4cplus.rootLogger = INFO, out
log4cplus.logger.dcmtk.dcmnet = DEBUG
log4cplus.logger.dcmtk.dcmdata = WARN
log4cplus.appender.out = log4cplus::ConsoleAppender
log4cplus.appender.out.logToStderr = false
log4cplus.appender.out.ImmediateFlush = true
log4cplus.appender.out.layout = log4cplus::PatternLayout
log4cplus.appender.out.layout.ConversionPattern = %P: %m%n
log4cplus.appender.out.filters.1 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.1.StringToMatch = sending SOP instance from file
log4cplus.appender.out.filters.1.AcceptOnMatch = true
log4cplus.appender.out.filters.2 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.2.StringToMatch = Converting transfer syntax
log4cplus.appender.out.filters.2.AcceptOnMatch = true
log4cplus.appender.out.filters.3 = log4cplus::spi::StringMatchFilter
log4cplus.appender.out.filters.3.StringToMatch = C-STORE RSP
log4cplus.appender.out.filters.3.AcceptOnMatch = true
log4cplus.appender.out.filters.4 = log4cplus::spi::LogLevelRangeFilter
log4cplus.appender.out.filters.4.LogLevelMin = ERROR
log4cplus.appender.out.filters.4.LogLevelMax = FATAL
log4cplus.appender.out.filters.4.AcceptOnMatch = true
"""

# DCMTK's names of the syntaxes it converts to (dcmsend never compresses).
_SYNTAX_BY_NAME = {
    "Little Endian Implicit": "1.2.840.10008.1.2",
    "Little Endian Explicit": "1.2.840.10008.1.2.1",
    "Big Endian Explicit": "1.2.840.10008.1.2.2",
    "Deflated Explicit VR Little Endian": "1.2.840.10008.1.2.1.99",
}


class LiveLog:
    """Follows dcmsend's (filtered) debug output: feed() returns (filename, status, converted syntax UID or None) when a
    C-STORE response arrives, else None. Unknown lines are ignored, so another DCMTK version's wording only
    delays confirmations until the report."""

    def __init__(self):
        self.filename, self.converted, self.in_response = None, None, False

    def feed(self, line: str):
        line = line.rstrip()
        if line.startswith("D: sending SOP instance from file: "):
            self.filename, self.converted, self.in_response = line.split(": ", 2)[2], None, False
        elif line.startswith("I: Converting transfer syntax: ") and " -> " in line:
            self.converted = _SYNTAX_BY_NAME.get(line.rsplit(" -> ", 1)[1].strip())
        elif line.startswith("D: Message Type") and line.endswith("C-STORE RSP"):
            self.in_response = True
        elif self.in_response and line.startswith("D: DIMSE Status"):
            self.in_response = False
            match = _STATUS.match(line.split(": ", 2)[-1])
            if match and self.filename:
                return self.filename, int(match.group(1), 16), self.converted
        return None


def _die_with_parent():  # runs in the child before exec: a killed worker takes its dcmsend along
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def send_files(paths: list[Path], *, host: str, port: int, calling_ae: str, called_ae: str, timeout: float,
               on_response: Callable[[str, int, str | None], None] | None = None) -> Run:
    """Send the files in one dcmsend run; on_response(filename, status, converted syntax) as responses arrive;
    the report says what became of each."""
    with tempfile.TemporaryDirectory(prefix="dcmsend-") as scratch:
        report, log_config = Path(scratch) / "report.txt", Path(scratch) / "log.cfg"
        log_config.write_text(LOG_CONFIG)
        seconds = str(max(int(timeout), 1))
        argv = ["dcmsend", "-aet", calling_ae, "-aec", called_ae,
                "--no-halt",  # a refused instance does not stop the others; each is in the report
                "--no-uid-checks",  # what we accepted on receive, we send on (as the pynetdicom sender does)
                "-to", seconds, "-ta", seconds, "-td", seconds, "--max-pdu", str(DCMTK_MAX_PDU),
                "--log-config", str(log_config), "--create-report-file", str(report), host, str(port), *map(str, paths)]
        # Without TCP_NODELAY each C-STORE turn waits for a delayed ACK (~40 ms) under Nagle.
        env = {**os.environ, "TCP_NODELAY": "1"}
        limit = timeout * (len(paths) + 3)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", env=env, preexec_fn=_die_with_parent)
        timed_out = threading.Event()

        def give_up():
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(limit, give_up)
        watchdog.start()
        live, errors = LiveLog(), []
        try:
            for line in process.stdout:
                if line.startswith(("E:", "F:")):
                    errors.append(line.strip())
                response = live.feed(line)
                if response and on_response:
                    on_response(*response)
            returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
        if timed_out.is_set():
            errors.append(f"dcmsend did not finish within {limit:.0f} s and was stopped")
        results = parse_report(report.read_text(errors="replace")) if report.exists() else []
    return Run(returncode=returncode, results=results, errors="; ".join(errors))
