"""C-FIND clients that send a big query and then stop reading: ended after the send deadline, memory bounded.

The stalled clients are raw sockets written by hand (A-ASSOCIATE-RQ, one P-DATA-TF with the C-FIND)
with a tiny receive buffer, that never read the answer; the listener runs in this process, so its
memory is this process's VmRSS.
"""
import socket
import struct
import time
from io import BytesIO

import pytest
from pydicom import Dataset
from pynetdicom.dimse_messages import C_FIND_RQ
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.mwl.support import final_status, find, identifier, make_many_steps, matches, wait_until

IMPLICIT_LE = b"1.2.840.10008.1.2"
STALLED_CLIENTS = 6
STEPS = 3000




def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def associate_rq(calling: bytes, called: bytes = b"BROKER") -> bytes:
    syntax = str(ModalityWorklistInformationFind).encode()
    context = bytes([1, 0, 0, 0]) + _item(0x30, syntax) + _item(0x40, IMPLICIT_LE)
    user = _item(0x51, struct.pack(">I", 16384))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
            + _item(0x10, b"1.2.840.10008.3.1.1.1") + _item(0x20, context) + _item(0x50, user))
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def c_find_pdu(query: Dataset) -> bytes:
    request = C_FIND()
    request.MessageID = 1
    request.AffectedSOPClassUID = ModalityWorklistInformationFind
    request.Priority = 2
    data = encode(query, True, True)
    request.Identifier = BytesIO(data)
    message = C_FIND_RQ()
    message.primitive_to_message(request)
    command = encode(message.command_set, True, True)
    pdvs = (struct.pack(">IBB", len(command) + 2, 1, 0x03) + command
            + struct.pack(">IBB", len(data) + 2, 1, 0x02) + data)
    return struct.pack(">BBI", 0x04, 0, len(pdvs)) + pdvs


def stalled_client(port: int, n: int) -> socket.socket:
    """Associate, send a query for every step, read nothing more."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(associate_rq(f"STALL{n}".encode()))
    header = sock.recv(6, socket.MSG_WAITALL)
    assert header[0] == 0x02, f"association not accepted: {header!r}"
    sock.recv(struct.unpack(">I", header[2:])[0], socket.MSG_WAITALL)
    sock.sendall(c_find_pdu(identifier()))
    return sock


@pytest.mark.slow
def test_it_aborts_clients_that_stop_reading_and_serves_a_good_one_meanwhile(server, settings):
    settings.BROKER_MWL_SEND_TIMEOUT_SECONDS = 3.0
    settings.BROKER_MWL_QUERY_BUDGET_SECONDS = 60  # seven big answers at once on a loaded machine
    make_many_steps(settings, STEPS)
    port = server.server_address[1]
    before = rss_kib()
    clients = [stalled_client(port, n) for n in range(STALLED_CLIENTS)]
    try:
        wait_until(lambda: len(server.active_associations) >= STALLED_CLIENTS, timeout=20)
        peak = rss_kib()
        started = time.monotonic()
        answers = find(port, identifier(), calling_ae="CT01")  # a good client, served in full meanwhile
        assert final_status(answers) == 0x0000 and len(matches(answers)) == STEPS
        peak = max(peak, rss_kib())
        wait_until(lambda: not server.active_associations, timeout=settings.BROKER_MWL_SEND_TIMEOUT_SECONDS + 30,
                   message="the stalled associations to be ended")
        ended_after = time.monotonic() - started
    finally:
        for sock in clients:
            sock.close()
    after = rss_kib()
    print(f"RSS before {before} KiB, peak {peak} KiB, after {after} KiB; ended after {ended_after:.1f} s")
    assert peak - before < 150 * 1024
    assert after - before < 150 * 1024


@pytest.mark.slow
def test_it_resets_the_connection_of_a_client_that_stopped_reading(server, settings):
    settings.BROKER_MWL_SEND_TIMEOUT_SECONDS = 2.0
    make_many_steps(settings, STEPS)
    sock = stalled_client(server.server_address[1], 0)
    try:
        wait_until(lambda: not server.active_associations, timeout=30, message="the stalled association to end")
        sock.settimeout(10)
        with pytest.raises((ConnectionResetError, socket.timeout)) as ended:
            for _ in range(100000):  # drain what was in flight; then the reset (or nothing more) shows
                if not sock.recv(65536):
                    break
        assert ended.type is ConnectionResetError
    finally:
        sock.close()
