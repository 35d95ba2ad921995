"""The web process's gunicorn worker: gunicorn's threaded worker plus a deadline for each request's head.

gunicorn's gthread worker gives a connection a thread as soon as its first byte arrives and then reads the
request line and headers with a blocking socket: a client that sends one header byte a second (slowloris)
holds that thread for as long as it likes. Here every request's head must be complete within the worker
timeout (BROKER_WEB_TIMEOUT); a watchdog thread shuts the socket of a connection that is late, which ends
the blocking read and frees the thread. Once the head is in, each further read or write of the request
(body, response) may wait at most that long for the peer.
"""
import heapq
import itertools
import socket
import threading
import time

from gunicorn.workers.gthread import ThreadWorker


class HeadDeadlines:
    """Sockets with a deadline; one thread shuts those still registered when their deadline passes."""

    def __init__(self):
        self._lock = threading.Condition()
        self._heap = []  # (deadline, sequence number)
        self._sockets = {}  # sequence number -> socket
        self._counter = itertools.count()
        threading.Thread(target=self._run, name="web-head-deadlines", daemon=True).start()

    def add(self, sock, seconds: float) -> int:
        ticket = next(self._counter)
        with self._lock:
            self._sockets[ticket] = sock
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket))
            self._lock.notify()
        return ticket

    def discard(self, ticket: int | None) -> None:
        if ticket is not None:
            with self._lock:
                self._sockets.pop(ticket, None)

    def _run(self):
        while True:
            with self._lock:
                while not self._heap:
                    self._lock.wait()
                deadline, ticket = self._heap[0]
                late = deadline - time.monotonic()
                if late > 0:
                    self._lock.wait(late)
                    continue
                heapq.heappop(self._heap)
                sock = self._sockets.pop(ticket, None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the blocked recv returns b"": gunicorn closes the connection
                except OSError:
                    pass


class DeadlineThreadWorker(ThreadWorker):
    def init_process(self):
        self.head_deadlines = HeadDeadlines()
        super().init_process()

    def handle(self, conn):
        conn.head_ticket = self.head_deadlines.add(conn.sock, self.cfg.timeout)
        try:
            return super().handle(conn)
        finally:
            self.head_deadlines.discard(conn.head_ticket)

    def handle_request(self, req, conn):
        # The head is in: from here on the application runs as long as it needs, the peer waits no longer per read.
        self.head_deadlines.discard(getattr(conn, "head_ticket", None))
        conn.sock.settimeout(self.cfg.timeout)
        return super().handle_request(req, conn)
