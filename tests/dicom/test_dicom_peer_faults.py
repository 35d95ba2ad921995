"""Malformed PDUs and DIMSE messages that pynetdicom does not expect: an A-ABORT, one warning line, no traceback.

Each case is sent on a raw socket; the broker must answer with an A-ABORT or close the connection at once,
no listener thread may die with an exception, the log (as the console handler writes it) has no traceback but
one line naming the peer, and a good C-ECHO is served right after.
"""
import io
import logging
import socket
import struct
import threading

import pytest
from pydicom import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from broker.core.dicom_net.peer_faults import PeerFaultLogFilter
from broker.dicom import listener as dicom_listener
from tests.dicom.test_dicom_exhaustion import association_request, closed_by_broker, good_echo_served

MARGIN = 3.0


@pytest.fixture
def server(transactional_db, settings):
    settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE = settings.BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS = 0
    server = dicom_listener.start("127.0.0.1", 0)
    yield server
    server.shutdown()


@pytest.fixture
def console():
    """What the operator reads: a handler with the broker's console filter on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PeerFaultLogFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.fixture
def thread_deaths(monkeypatch):
    died = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(f"{args.thread.name}: {args.exc_value!r}"))
    return died


def with_context_id(request: bytes, context_id: int) -> bytes:
    """The A-ASSOCIATE-RQ with its (only) presentation context item's ID replaced."""
    item = request.index(b"\x20\x00", 74)  # variable items start after the 74-byte fixed part
    return request[:item + 4] + bytes([context_id]) + request[item + 5:]


def with_called_ae_title(request: bytes, title: bytes) -> bytes:
    """The A-ASSOCIATE-RQ with its 16 bytes of Called AE Title (offset 10) replaced."""
    return request[:10] + title.ljust(16)[:16] + request[26:]


def command_without_command_field() -> bytes:
    """A P-DATA-TF whose one PDV is a last command fragment holding no Command Field."""
    command = Dataset()
    command.AffectedSOPClassUID = "1.2.840.10008.1.1"
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, command)
    pdv = bytes([1, 0x03]) + buffer.getvalue()  # context 1, control header: command, last fragment
    item = struct.pack(">L", len(pdv)) + pdv
    return struct.pack(">BBL", 0x04, 0x00, len(item)) + item


A_ASSOCIATE_RJ = struct.pack(">BBLBBBB", 0x03, 0x00, 4, 0x00, 0x01, 0x01, 0x01)
P_DATA_TF_EMPTY_PDV = struct.pack(">BBLL", 0x04, 0x00, 4, 0)


def send_and_read(port: int, payloads: list[bytes]) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    received = b""
    for payload in payloads:
        sock.sendall(payload)
        if payload[:1] == b"\x01":  # after our A-ASSOCIATE-RQ: the broker's answer
            received = sock.recv(65536)
    return sock, received


@pytest.mark.parametrize("case, payloads", [
    ("an even presentation context ID", lambda: [with_context_id(association_request(), 2)]),
    ("an all-spaces called AE title", lambda: [with_called_ae_title(association_request(), b" " * 16)]),
    ("an A-ASSOCIATE-RJ before any association", lambda: [A_ASSOCIATE_RJ]),
    ("a P-DATA-TF before any association", lambda: [P_DATA_TF_EMPTY_PDV]),
    ("a command set without Command Field", lambda: [association_request(), command_without_command_field()]),
])
def test_it_aborts_what_pynetdicom_cannot_process_and_logs_one_line(server, console, thread_deaths, case, payloads):
    port = server.server_address[1]
    sock, _ = send_and_read(port, payloads())
    try:
        assert closed_by_broker(sock, MARGIN), f"{case}: the broker kept the connection open"
    finally:
        sock.close()
    assert good_echo_served(port, within=MARGIN) < MARGIN
    log = console.getvalue()
    assert "Traceback" not in log, f"{case}: {log}"
    assert thread_deaths == [], case
    if case.startswith(("an even", "a command")):
        assert "aborted: the peer sent what the" in log, f"{case}: {log}"


def record(name: str, level: int = logging.ERROR) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        return logging.LogRecord(name, level, __file__, 1, "decoding failed", None, sys.exc_info())


@pytest.mark.parametrize("name, keeps_traceback", [
    ("pynetdicom.dul", False),
    ("pynetdicom.fsm", False),
    ("pynetdicom.dimse", False),
    ("pynetdicom.events", True),  # an exception in one of the broker's event handlers: the broker's fault
    ("broker.dicom.services.mwl", True),
    ("worklist.mwl.query", True),
])
def test_it_keeps_tracebacks_only_for_the_brokers_own_faults(name, keeps_traceback):
    entry = record(name)
    assert PeerFaultLogFilter().filter(entry) is True
    assert (entry.exc_info is not None) is keeps_traceback
    if not keeps_traceback:
        assert (entry.levelname, entry.getMessage()) == ("WARNING", "decoding failed (ValueError: boom)")
