"""The web process as runbroker starts it (gunicorn, broker/gunicorn_conf.py) against clients that trickle headers."""
import os
import select
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from broker.management.commands.runbroker import child_commands
from tests.services import free_port, port_open
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # child processes: each test starts Django again

ROOT = Path(__file__).resolve().parents[2]
WEB_TIMEOUT = 3  # BROKER_WEB_TIMEOUT for this server: short, so the test sees the cut-off
SLOW_CLIENTS = 20


@pytest.fixture(scope="module")
def web_port(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("web")
    port = free_port()
    argv = child_commands(port)["web"]
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({"BROKER_DATA_DIR": str(data_dir), "BROKER_WEB_TIMEOUT": str(WEB_TIMEOUT)})
    with open(data_dir / "gunicorn.log", "ab") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 60, message="gunicorn listening")
        # The master listens before its workers have loaded Django (only a loaded worker accepts connections).
        wait_until(lambda: _answers(port), 60, interval=0.2, message="a gunicorn worker answering")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        _timed_get(port)
    except OSError:
        return False
    return True


class Trickler:
    """Clients that send a request line and then one header byte a second, never finishing the head."""

    def __init__(self, port: int, count: int):
        self.started = time.monotonic()
        self.open = {}
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.open[sock] = b"X-Slow: "
        self.closed_after = []

    def step(self, seconds: float = 1.0) -> None:
        """One second of trickling: a byte on each open socket, then note every socket the server closed."""
        for sock in list(self.open):
            try:
                sock.send(b"a")
            except OSError:
                self._closed(sock)
        deadline = time.monotonic() + seconds
        while self.open and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(list(self.open), [], [], left)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self._closed(sock)

    def _closed(self, sock):
        self.closed_after.append(time.monotonic() - self.started)
        self.open.pop(sock)
        sock.close()

    def close(self):
        for sock in self.open:
            sock.close()


def _timed_get(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
        assert response.status == 200
        response.read()
    return time.monotonic() - started


def test_it_answers_a_normal_client_while_twenty_clients_trickle_headers(web_port):
    slow = Trickler(web_port, SLOW_CLIENTS)
    try:
        latencies = []
        for _ in range(WEB_TIMEOUT - 1):  # while every slow client is still connected and holding on
            slow.step(0.5)
            latencies.append(_timed_get(web_port))
            latencies.append(_timed_get(web_port))
        assert len(slow.open) == SLOW_CLIENTS
    finally:
        slow.close()
    assert statistics.median(latencies) < 1.0, latencies
    assert max(latencies) < 3.0, latencies


def test_it_disconnects_clients_whose_headers_trickle_past_the_timeout(web_port):
    slow = Trickler(web_port, SLOW_CLIENTS)
    try:
        for _ in range(WEB_TIMEOUT + 10):  # bounded: at most 13 s of trickling
            slow.step()
            if not slow.open:
                break
    finally:
        slow.close()
    assert len(slow.closed_after) == SLOW_CLIENTS
    # Not before the configured timeout, and soon after it.
    assert min(slow.closed_after) >= WEB_TIMEOUT - 0.5, slow.closed_after
    assert max(slow.closed_after) < WEB_TIMEOUT + 5, slow.closed_after
