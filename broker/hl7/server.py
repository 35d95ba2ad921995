"""The MLLP listener: an asyncio server whose connections hand each framed message to the intake.

One message in flight per connection (the sender waits for its ACK); many connections at once. The
database work runs in a bounded thread pool (broker.hl7.workers: the last idle thread, with its warm
database connection, takes the next message), so a slow commit never blocks other connections' reads.
Cancelling the server (SIGTERM in `runhl7`) lets every message already being applied finish and get
its ACK, then closes the connections.
"""
import asyncio
import logging
import socket
import threading

from django.conf import settings
from django.db import connections

from broker.hl7 import intake
from broker.hl7.mllp import FrameDecoder, FrameTooLarge, frame
from broker.hl7.workers import LastIdleFirstExecutor

log = logging.getLogger("broker.hl7.server")


class MLLPServer:
    def __init__(self, host: str | None = None, port: int | None = None, *, max_message_bytes: int | None = None,
                 idle_timeout: float | None = None, workers: int | None = None, receive=None):
        self.host = settings.BROKER_HOST if host is None else host
        self.port = settings.BROKER_HL7_PORT if port is None else port
        self.max_message_bytes = max_message_bytes or settings.BROKER_HL7_MAX_MESSAGE_BYTES
        self.idle_timeout = idle_timeout or settings.BROKER_HL7_IDLE_TIMEOUT
        self.receive = receive or intake.receive
        self._executor = LastIdleFirstExecutor(workers or settings.BROKER_HL7_WORKERS, thread_name_prefix="hl7-intake")
        self._server: asyncio.base_events.Server | None = None
        self._idle: dict[asyncio.Task, bool] = {}  # connection task -> waiting for bytes (safe to cancel)
        self._db_connections = []
        self._lock = threading.Lock()
        self.stopping = False

    @property
    def address(self) -> tuple[str, int]:
        return self._server.sockets[0].getsockname()[:2]

    async def start(self) -> "MLLPServer":
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        log.info("HL7 MLLP listener on %s:%s", *self.address)
        return self

    async def stop(self) -> None:
        """Stop accepting; let messages being applied finish and be answered; close the rest."""
        self.stopping = True
        self._server.close()
        for task, idle in list(self._idle.items()):
            if idle:
                task.cancel()
        if self._idle:
            await asyncio.wait(list(self._idle), timeout=60)
        await self._server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown_pool)
        log.info("HL7 MLLP listener stopped")

    def _shutdown_pool(self):
        self._executor.shutdown(wait=True)
        with self._lock:
            for connection in self._db_connections:
                connection.close()
            self._db_connections.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._idle[task] = True
        sock = writer.get_extra_info("socket")
        ack_sock = None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The intake thread sends the ACK itself, right after the commit: handing it back to the event loop
            # first costs a thread switch and a loop turn on the sender's critical path. Its own descriptor (a
            # dup) stays valid even if the transport closes meanwhile; no other write is pending then.
            ack_sock = sock.dup()
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peername[0]}:{peername[1]}"
        decoder = FrameDecoder(self.max_message_bytes)
        loop = asyncio.get_running_loop()
        try:
            while not self.stopping:
                try:
                    async with asyncio.timeout(self.idle_timeout):  # no extra task per read, unlike wait_for
                        data = await reader.read(65536)
                except TimeoutError:
                    await self._record_leftovers(decoder, peer, f"idle for {self.idle_timeout:g} s")
                    break
                if not data:
                    await self._record_leftovers(decoder, peer, "connection closed by the sender")
                    break
                try:
                    messages = decoder.feed(data)
                except FrameTooLarge as exc:
                    size = exc.size
                    await loop.run_in_executor(self._executor, self._record, decoder.pending_excerpt(), peer,
                                               f"{exc}; connection closed", size)
                    break
                if decoder.discarded > self.max_message_bytes:
                    await self._record_leftovers(decoder, peer, "too many bytes outside MLLP frames; connection closed")
                    break
                for raw in messages:
                    self._idle[task] = False
                    unsent = await loop.run_in_executor(self._executor, self._process, raw, peer, ack_sock)
                    if unsent:
                        writer.write(unsent)
                        await writer.drain()
                    self._idle[task] = True
        except asyncio.CancelledError:
            pass  # shutdown while waiting for bytes: nothing in flight
        except (ConnectionError, OSError) as exc:
            log.info("connection %s: %s", peer, exc)
        finally:
            self._idle.pop(task, None)
            writer.close()
            if ack_sock is not None:
                ack_sock.close()

    async def _record_leftovers(self, decoder: FrameDecoder, peer: str, why: str) -> None:
        loop = asyncio.get_running_loop()
        if decoder.discarded:
            await loop.run_in_executor(self._executor, self._record, bytes(decoder.discarded_excerpt), peer,
                                       f"{decoder.discarded} bytes outside any MLLP frame (no <VT> start block) "
                                       f"were dropped; {why}", decoder.discarded)
            decoder.discarded, decoder.discarded_excerpt = 0, bytearray()
        if decoder.pending_bytes:
            await loop.run_in_executor(self._executor, self._record, decoder.pending_excerpt(), peer,
                                       f"unfinished MLLP frame (no <FS><CR> end block) dropped: {why}",
                                       decoder.pending_bytes - 1)

    def _process(self, raw: bytes, peer: str, ack_sock: socket.socket | None) -> bytes:
        """Apply one message and send its ACK frame; returns what is left to send (by the event loop)."""
        self._track_connection()
        _check_connection()
        reply = frame(self.receive(raw, peer).ack)
        if ack_sock is None:
            return reply
        try:
            return reply[ack_sock.send(reply):]  # non-blocking: a full send buffer leaves the rest to the loop
        except OSError:  # would block, or the connection is gone: the loop's write meets (and handles) the same
            return reply

    def _record(self, data: bytes, peer: str, reason: str, size: int) -> None:
        self._track_connection()
        _check_connection()
        intake.record_unframed(data, peer, reason, size)

    def _track_connection(self):
        # Each pool thread has its own Django connection; remember them to close at shutdown.
        connection = connections["default"]
        with self._lock:
            if connection not in self._db_connections:
                connection.inc_thread_sharing()
                self._db_connections.append(connection)


def _check_connection() -> None:
    """Per unit of work, like close_old_connections(), but a healthy connection stays open across messages.

    Django's CONN_MAX_AGE=0 (the SQLite default here) would reconnect for every message, which costs more
    than applying one; a connection that saw an error and no longer answers is dropped, as Django does.
    """
    connection = connections["default"]
    if connection.connection is None:
        return
    if connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]:
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


class RunningServer:
    """An MLLP server on its own event loop thread (tests, benchmarks): `.port`, `.shutdown()`."""

    def __init__(self, server: MLLPServer):
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hl7-listener", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> "RunningServer":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the HL7 listener did not start within 10 s")
        return self

    @property
    def host(self) -> str:
        return self.server.address[0]

    @property
    def port(self) -> int:
        return self.server.address[1]

    def shutdown(self):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(90)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def start_server(host: str = "127.0.0.1", port: int = 0, *, block: bool = True, **options):
    """Run the listener: forever (block=True), or on a background thread returned as a RunningServer."""
    server = MLLPServer(host, port, **options)
    if block:
        async def main():
            await server.start()
            await asyncio.Event().wait()
        asyncio.run(main())
        return None
    return RunningServer(server).start()
