"""MLLP exhaustion limits with raw sockets (issue 15 item 6): connection caps, the frame deadline, memory."""
import socket
import threading
import time
from pathlib import Path

from broker.core.hl7v2.mllp import MLLPClient, frame
from broker.hl7.models import HL7Message
from broker.hl7.server import start_server
from tests.hl7.support import ListenerProcess, msa, orm, pid, wait_until

MIB = 1024 * 1024


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def served(sock: socket.socket, n: int) -> bool:
    """The connection is admitted: an order sent on it is answered AA."""
    sock.sendall(frame(orm(placer=f"CAP{n}", accession=f"CAP{n}", patient=pid(f"CAPPAT{n}"))))
    reply = b""
    while not reply.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        if not chunk:
            return False
        reply += chunk
    return msa(reply[1:-2])[0] == "AA"


def closed_at_once(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:  # aborted by the listener
        return True


def rss_bytes(pid_: int) -> int:
    for line in Path(f"/proc/{pid_}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")




def test_it_closes_the_connection_over_the_per_address_limit_at_once(capped, caplog):
    admitted = [connect(capped.port) for _ in range(3)]
    try:
        assert all(served(sock, n) for n, sock in enumerate(admitted))
        with connect(capped.port) as extra:
            assert closed_at_once(extra)
        assert capped.server.refused_connections == 1
        assert "BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS" in caplog.text
    finally:
        for sock in admitted:
            sock.close()


def test_it_closes_the_connection_over_the_total_limit_at_once_and_serves_after_one_leaves(capped):
    admitted = [connect(capped.port, "127.0.0.1") for _ in range(3)] + [connect(capped.port, "127.0.0.2") for _ in range(2)]
    try:
        assert all(served(sock, n) for n, sock in enumerate(admitted))
        with connect(capped.port, "127.0.0.3") as extra:
            assert closed_at_once(extra)
        assert capped.server.refused_connections == 1
        admitted.pop().close()
        wait_until(lambda: sum(capped.server._per_address.values()) == 4, timeout=10)
        with connect(capped.port, "127.0.0.3") as later:
            assert served(later, 99)
    finally:
        for sock in admitted:
            sock.close()


def test_it_closes_a_trickled_frame_at_the_frame_deadline_and_serves_others(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, idle_timeout=2.0, frame_timeout=3.0)
    try:
        payload = b"\x0b" + orm(control_id="TRICKLE")
        with connect(running.port) as sock:
            started = time.monotonic()
            closed_after = None
            for n in range(40):  # one byte every 0.5 s: never idle for 2 s, a frame that would take 20 s
                try:
                    sock.sendall(payload[n:n + 1])
                except OSError:
                    closed_after = time.monotonic() - started
                    break
                sock.settimeout(0.5)
                try:
                    if sock.recv(100) == b"":
                        closed_after = time.monotonic() - started
                        break
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    closed_after = time.monotonic() - started
                    break
                if n == 2:  # a good sender meanwhile
                    with MLLPClient("127.0.0.1", running.port, timeout=10) as client:
                        assert msa(client.send(orm(placer="GOOD", accession="GOOD")))[0] == "AA"
        assert closed_after is not None and 2.9 <= closed_after < 8.0
        row = wait_until(lambda: HL7Message.objects.filter(error_text__contains="after its first byte").first())
        assert row.outcome == "AR" and bytes(row.raw).startswith(b"MSH|")
        assert running.server.closed_frames == 1
    finally:
        running.shutdown()


def test_it_keeps_memory_bounded_while_20_clients_each_send_half_a_big_frame(database_url_for_subprocess):
    listener = ListenerProcess(database_url_for_subprocess, {
        "BROKER_HL7_MAX_MESSAGE_BYTES": str(16 * MIB), "BROKER_HL7_MAX_BUFFERED_BYTES": str(24 * MIB),
        "BROKER_HL7_FRAME_TIMEOUT": "120", "BROKER_HL7_IDLE_TIMEOUT": "120"})
    clients, release = [], threading.Event()
    try:
        with MLLPClient("127.0.0.1", listener.port, timeout=30) as client:  # warm: models loaded, pool started
            assert msa(client.send(orm(placer="WARM", accession="WARM")))[0] == "AA"
        baseline = rss_bytes(listener.proc.pid)
        half_frame = b"\x0b" + orm(control_id="HALF") + b"NTE|1||" + b"x" * (7 * MIB)  # of a 14 MiB frame
        done = []

        def hold():
            try:
                with socket.create_connection(("127.0.0.1", listener.port), timeout=60) as sock:
                    sock.sendall(half_frame)
                    done.append("sent")
                    release.wait(120)
            except OSError:
                done.append("closed")  # closed by the listener: over the memory budget

        clients = [threading.Thread(target=hold) for _ in range(20)]
        for thread in clients:
            thread.start()
        wait_until(lambda: len(done) == 20, timeout=120, message="every client sent or was closed")
        over_budget = HL7Message.objects.filter(error_text__contains="BROKER_HL7_MAX_BUFFERED_BYTES")
        wait_until(lambda: over_budget.count() >= 14, timeout=60, message="20 x 7 MiB do not fit in 24 MiB")
        held = rss_bytes(listener.proc.pid) - baseline
        with MLLPClient("127.0.0.1", listener.port, timeout=30) as client:
            assert msa(client.send(orm(placer="MEANWHILE", accession="MEANWHILE")))[0] == "AA"
        assert held < 70 * MIB, f"RSS grew by {held / MIB:.0f} MiB; unbounded it would be about 140 MiB"
        release.set()
        for thread in clients:
            thread.join(30)
        wait_until(lambda: rss_bytes(listener.proc.pid) - baseline < 40 * MIB, timeout=30,
                   message="memory returned after the clients left")
    finally:
        release.set()
        for thread in clients:
            thread.join(30)
        listener.stop()
