"""The MLLP listener: an asyncio server whose connections hand each framed message to the intake.

One message in flight per connection (the sender waits for its ACK); many connections at once. The
database work runs in the listeners' database threads (broker.core.db_threads: the last idle thread,
with its warm database connection, takes the next message), so a slow commit never blocks other connections' reads.
Cancelling the server (SIGTERM in `runhl7`) lets every message already being applied finish and get
its ACK, then closes the connections.

With a TLS port (BROKER_HL7_TLS_PORT) the same server also listens there: the same intake, connection caps, frame
deadline and memory budget. A TLS connection is counted in before its handshake, which must finish within the
frame deadline, so a client that never finishes it holds its slot no longer than a trickled frame would.
"""
import asyncio
import ctypes
import ctypes.util
import logging
import socket
import ssl
import threading

from django.conf import settings

from broker.audit import lifecycle
from broker.audit.models import AuditEvent
from broker.core import tls
from broker.core.db_threads import DatabaseThreads
from broker.core.env import ConfigurationError
from broker.core.hl7v2.mllp import FrameDecoder, FrameTooLarge, frame
from broker.hl7 import intake

log = logging.getLogger("broker.hl7.server")

TRIM_AFTER_BYTES = 1024 * 1024
TLS_RECORD_START = b"\x16\x03"  # a TLS handshake record (a ClientHello): content type 22, record version 3.x


def _libc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: freed memory is the allocator's to keep
        return None


_malloc_trim = _libc_trim()


def _return_freed_memory() -> None:
    """A connection that held a big frame is gone: hand its freed pages back to the system (glibc keeps
    them in its heap otherwise, and RSS stays at the high-water mark of the worst sender)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


class MLLPServer:
    def __init__(self, host: str | None = None, port: int | None = None, *, max_message_bytes: int | None = None,
                 idle_timeout: float | None = None, workers: int | None = None, receive=None,
                 max_connections: int | None = None, max_connections_per_address: int | None = None,
                 frame_timeout: float | None = None, max_buffered_bytes: int | None = None,
                 tls_port: int | None = None, ssl_context: ssl.SSLContext | None = None, plain: bool | None = None):
        self.host = settings.BROKER_HOST if host is None else host
        self.port = settings.BROKER_HL7_PORT if port is None else port
        self.plain = settings.BROKER_HL7_PLAIN if plain is None else plain
        self.tls_port = settings.BROKER_HL7_TLS_PORT if tls_port is None else tls_port
        if not self.plain and self.tls_port is None:
            raise ConfigurationError("BROKER_HL7_PLAIN=false closes the plain MLLP port but BROKER_HL7_TLS_PORT is not "
                                     "set: the HL7 listener would listen nowhere; set BROKER_HL7_TLS_PORT (e.g. 2576)")
        # Made now: a certificate or key that cannot be used stops start-up before any port is bound.
        self.ssl_context = None
        if self.tls_port is not None:
            self.ssl_context = ssl_context or tls.listener_context()
        self.max_message_bytes = max_message_bytes or settings.BROKER_HL7_MAX_MESSAGE_BYTES
        self.idle_timeout = idle_timeout or settings.BROKER_HL7_IDLE_TIMEOUT
        self.max_connections = max_connections or settings.BROKER_HL7_MAX_CONNECTIONS
        self.max_connections_per_address = max_connections_per_address or settings.BROKER_HL7_MAX_CONNECTIONS_PER_ADDRESS
        self.frame_timeout = frame_timeout or settings.BROKER_HL7_FRAME_TIMEOUT
        self.max_buffered_bytes = max_buffered_bytes or settings.BROKER_HL7_MAX_BUFFERED_BYTES
        self._per_address: dict[str, int] = {}  # open connections by source address
        self._buffered = 0  # bytes of unfinished frames held by all connections (the event loop's alone)
        self.refused_connections = 0  # over a connection limit, closed at once
        self.closed_frames = 0  # connections closed for a frame over its deadline or over the memory budget
        self.refused_handshakes = 0  # TLS connections whose handshake failed (untrusted client, no TLS, old TLS)
        self.receive = receive or intake.receive
        self._executor = DatabaseThreads(workers or settings.BROKER_HL7_WORKERS, name="hl7-intake")
        self._server: asyncio.base_events.Server | None = None  # the plain MLLP port
        self._tls_server: asyncio.base_events.Server | None = None
        self._idle: dict[asyncio.Task, bool] = {}  # connection task -> waiting for bytes (safe to cancel)
        self.stopping = False

    @property
    def address(self) -> tuple[str, int]:
        """The plain MLLP port's address (the TLS port's when the plain port is closed)."""
        return (self._server or self._tls_server).sockets[0].getsockname()[:2]

    @property
    def tls_address(self) -> tuple[str, int] | None:
        return self._tls_server.sockets[0].getsockname()[:2] if self._tls_server else None

    @property
    def _servers(self) -> list[asyncio.base_events.Server]:
        return [server for server in (self._server, self._tls_server) if server is not None]

    def describe_ports(self) -> str:
        """Where it listens, for the ready line: "127.0.0.1:2575 (MLLP), 127.0.0.1:2576 (MLLP over TLS)"."""
        ports = []
        if self._server:
            host, port = self._server.sockets[0].getsockname()[:2]
            ports.append(f"{host}:{port} (MLLP)")
        if self._tls_server:
            mutual = ", client certificates required" if self.ssl_context.verify_mode == ssl.CERT_REQUIRED else ""
            host, port = self.tls_address
            ports.append(f"{host}:{port} (MLLP over TLS{mutual})")
        return ", ".join(ports)

    async def start(self) -> "MLLPServer":
        if self.plain:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        if self.tls_port is not None:
            loop = asyncio.get_running_loop()
            self._tls_server = await loop.create_server(lambda: _HandshakeFirst(self._serve_tls, loop), self.host,
                                                        self.tls_port, reuse_address=True)
        log.info("HL7 MLLP listener on %s", self.describe_ports())
        return self

    async def stop(self) -> None:
        """Stop accepting; let messages being applied finish and be answered; close the rest."""
        self.stopping = True
        for server in self._servers:
            server.close()
        for task, idle in list(self._idle.items()):
            if idle:
                task.cancel()
        if self._idle:
            await asyncio.wait(list(self._idle), timeout=60)
        for server in self._servers:
            await server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown_pool)
        log.info("HL7 MLLP listener stopped")

    def _shutdown_pool(self):
        self._executor.shutdown(wait=True)  # also closes each thread's database connection

    def _admit(self, address: str, peer: str) -> bool:
        """Count the connection in, or refuse it (over the total or the per-address limit)."""
        open_here = self._per_address.get(address, 0)
        total = sum(self._per_address.values())
        if total < self.max_connections and open_here < self.max_connections_per_address:
            self._per_address[address] = open_here + 1
            return True
        self.refused_connections += 1
        if self.refused_connections <= 10 or self.refused_connections % 100 == 0:  # a flood must not flood the log
            limit = (f"{self.max_connections} connections in all" if total >= self.max_connections
                     else f"{self.max_connections_per_address} connections from {address}")
            log.warning("refused connection %s: already %s open (limit BROKER_HL7_MAX_CONNECTIONS%s); "
                        "%d refused so far", peer, limit, "" if total >= self.max_connections else "_PER_ADDRESS",
                        self.refused_connections)
        return False

    def _release(self, address: str) -> None:
        left = self._per_address.get(address, 1) - 1
        if left > 0:
            self._per_address[address] = left
        else:
            self._per_address.pop(address, None)

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, use_tls=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, use_tls: bool = False) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peername[0]}:{peername[1]}"
        if self.stopping or not self._admit(str(peername[0]), peer):
            writer.transport.abort()  # at once: no bytes read, nothing buffered
            return
        try:
            await self._serve_admitted(reader, writer, peer, use_tls)
        finally:
            self._release(str(peername[0]))

    async def _handshake(self, writer: asyncio.StreamWriter, peer: str) -> bool:
        """The TLS handshake of an admitted connection; a refusal is logged and recorded, and closes it."""
        try:
            await writer.start_tls(self.ssl_context, ssl_handshake_timeout=self.frame_timeout)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError; a timeout aborts with ConnectionAbortedError
            self.refused_handshakes += 1
            why = tls.describe_refused_client(exc, timeout=self.frame_timeout)
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._record_refused_handshake, peer, why)
            return False
        log.info("connection %s: %s", peer, tls.describe_session(writer.get_extra_info("ssl_object")))
        return True

    async def _serve_admitted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                              use_tls: bool = False) -> None:
        task = asyncio.current_task()
        self._idle[task] = True
        if use_tls:
            try:
                handshaken = await self._handshake(writer, peer)
            except asyncio.CancelledError:  # shutdown during the handshake: nothing in flight
                handshaken = False
            if not handshaken:
                self._idle.pop(task, None)
                writer.close()
                return
        sock = writer.get_extra_info("socket")
        ack_sock = None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock is not None and not use_tls:  # a TLS connection's ACK must go through the TLS layer: the loop sends it
            # The intake thread sends the ACK itself, right after the commit: handing it back to the event loop
            # first costs a thread switch and a loop turn on the sender's critical path. Its own descriptor (a
            # dup) stays valid even if the transport closes meanwhile; no other write is pending then.
            ack_sock = sock.dup()
        decoder = FrameDecoder(self.max_message_bytes)
        loop = asyncio.get_running_loop()
        held = largest = 0  # this connection's share of self._buffered, and the most it held
        frame_deadline = None  # set by the first byte after the last whole message: the frame must end by then
        try:
            while not self.stopping:
                timeout = self.idle_timeout
                if frame_deadline is not None:
                    timeout = min(timeout, frame_deadline - loop.time())
                try:
                    async with asyncio.timeout(max(timeout, 0)):  # no extra task per read, unlike wait_for
                        data = await reader.read(65536)
                except TimeoutError:
                    if frame_deadline is not None and loop.time() >= frame_deadline:
                        self.closed_frames += 1
                        why = f"frame not complete {self.frame_timeout:g} s after its first byte; connection closed"
                    else:
                        why = f"idle for {self.idle_timeout:g} s"
                    await self._record_leftovers(decoder, peer, why)
                    break
                if not data:
                    await self._record_leftovers(decoder, peer, "connection closed by the sender")
                    break
                if frame_deadline is None:
                    if not use_tls and decoder.pending_bytes == 0 and data.startswith(TLS_RECORD_START):
                        await self._refuse_tls_on_plain_port(data, peer)
                        break
                    frame_deadline = loop.time() + self.frame_timeout
                try:
                    messages = decoder.feed(data)
                except FrameTooLarge as exc:
                    size = exc.size
                    await loop.run_in_executor(self._executor, self._record, decoder.pending_excerpt(), peer,
                                               f"{exc}; connection closed", size)
                    break
                pending = decoder.pending_bytes
                self._buffered += pending - held
                held = pending
                largest = max(largest, pending)
                if pending and self._buffered > self.max_buffered_bytes:
                    self.closed_frames += 1
                    await self._record_leftovers(decoder, peer, f"unfinished frames of all connections hold over "
                                                 f"{self.max_buffered_bytes} bytes (BROKER_HL7_MAX_BUFFERED_BYTES); "
                                                 f"connection closed")
                    break
                if decoder.discarded > self.max_message_bytes:
                    await self._record_leftovers(decoder, peer, "too many bytes outside MLLP frames; connection closed")
                    break
                if messages and not pending:
                    frame_deadline = None  # between frames: the idle timeout alone
                elif messages:
                    frame_deadline = loop.time() + self.frame_timeout  # the next frame has begun
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
            self._buffered -= held
            decoder.release()
            if largest > TRIM_AFTER_BYTES:
                _return_freed_memory()
            self._idle.pop(task, None)
            writer.close()
            if ack_sock is not None:
                ack_sock.close()

    async def _refuse_tls_on_plain_port(self, data: bytes, peer: str) -> None:
        # Rather than holding the connection until the frame deadline: the client waits for a ServerHello.
        where = (f"the TLS port is {self.tls_address[1]}" if self._tls_server
                 else "this broker has no MLLP TLS port (BROKER_HL7_TLS_PORT)")
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._record, b"", peer, f"a TLS handshake on the plain MLLP port ({where}); "
            "connection closed", len(data))

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
        reply = frame(self.receive(raw, peer).ack)
        if ack_sock is None:
            return reply
        try:
            return reply[ack_sock.send(reply):]  # non-blocking: a full send buffer leaves the rest to the loop
        except OSError:  # would block, or the connection is gone: the loop's write meets (and handles) the same
            return reply

    def _record(self, data: bytes, peer: str, reason: str, size: int) -> None:
        intake.record_unframed(data, peer, reason, size)

    def _record_refused_handshake(self, peer: str, why: str) -> None:
        self._record(b"", peer, f"TLS handshake refused on the MLLP TLS port: {why}; connection closed", 0)
        lifecycle.certificate_problem("MLLP TLS port", why, peer=peer, outcome=AuditEvent.Outcome.MINOR_FAILURE)


class _HandshakeFirst(asyncio.StreamReaderProtocol):
    """The TLS port's connections: nothing is read until the handshake starts (writer.start_tls), so a ClientHello
    that arrives before the connection's task runs is not swallowed by the plain stream reader."""

    def __init__(self, connected, loop):
        super().__init__(asyncio.StreamReader(limit=2 ** 16, loop=loop), connected, loop=loop)

    def connection_made(self, transport):
        transport.pause_reading()  # start_tls resumes it, under the TLS protocol
        super().connection_made(transport)


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

    @property
    def tls_port(self) -> int | None:
        address = self.server.tls_address
        return address[1] if address else None

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
