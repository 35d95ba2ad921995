"""MLLP framing (HL7 v2 transport): <VT> message <FS><CR>; a blocking client for outbound messages."""
import socket
import ssl

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"


class FrameTooLarge(Exception):
    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size  # bytes of the frame seen so far (not all of them kept)


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


class FrameDecoder:
    """Incremental decoder: feed bytes, get whole messages; bytes before <VT> are dropped."""

    def __init__(self, max_message_bytes: int):
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._scanned = 0  # how far the unfinished frame was searched for its end block: each byte is searched once
        self.discarded = 0  # bytes seen outside any frame
        self.discarded_excerpt = bytearray()  # the first of them, for the message log

    def feed(self, data: bytes) -> list[bytes]:
        if self._buffer[:1] == START_BLOCK and END_BLOCK[:1] not in data and \
                len(self._buffer) + len(data) - 1 > self.max_message_bytes:
            # refused before it is appended: the buffer never holds more than one maximal frame
            raise FrameTooLarge(f"frame exceeds {self.max_message_bytes} bytes without an end block",
                                len(self._buffer) - 1 + len(data))
        self._buffer += data
        messages = []
        while True:
            start = self._buffer.find(START_BLOCK)
            if start < 0:
                self._discard(len(self._buffer))
                break
            if start:
                self._discard(start)
            end = self._buffer.find(END_BLOCK, max(1, self._scanned))
            if end < 0:
                self._scanned = max(1, len(self._buffer) - len(END_BLOCK) + 1)
                if len(self._buffer) - 1 > self.max_message_bytes:
                    raise FrameTooLarge(f"frame exceeds {self.max_message_bytes} bytes without an end block",
                                        len(self._buffer) - 1)
                break
            self._scanned = 0
            if end - 1 > self.max_message_bytes:
                raise FrameTooLarge(f"frame of {end - 1} bytes exceeds {self.max_message_bytes}", end - 1)
            messages.append(bytes(self._buffer[1:end]))
            del self._buffer[: end + len(END_BLOCK)]
        return messages

    def release(self) -> None:
        """Give the buffers back (the connection is gone)."""
        self._buffer = bytearray()
        self.discarded_excerpt = bytearray()
        self._scanned = 0

    def _discard(self, count: int) -> None:
        room = self.EXCERPT_BYTES - len(self.discarded_excerpt)
        if room > 0:
            self.discarded_excerpt += self._buffer[: min(room, count)]
        self.discarded += count
        del self._buffer[:count]

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def pending_excerpt(self, limit: int = 65536) -> bytes:
        """The start of an unfinished frame (without <VT>), for the message log."""
        return bytes(self._buffer[1 : 1 + limit])

    EXCERPT_BYTES = 4096


class MLLPClient:
    """Send one message at a time and wait for its reply (the ACK) on a kept-open connection; over TLS when given
    a client context (broker.core.tls.client_context): the host is checked against the peer's certificate."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, max_message_bytes: int = 10 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None):
        self.host, self.port, self.timeout = host, port, timeout
        self.max_message_bytes = max_message_bytes
        self.ssl_context = ssl_context
        self._sock = None
        self._decoder = None

    def connect(self):
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)  # the handshake, bounded by timeout
            except BaseException:
                sock.close()
                raise
        self._sock = sock
        self._decoder = FrameDecoder(self.max_message_bytes)
        return self

    def send(self, message: bytes) -> bytes:
        """Send one framed message and return the payload of the reply frame."""
        if self._sock is None:
            self.connect()
        self._sock.sendall(frame(message))
        while True:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{self.host}:{self.port} closed the connection before replying")
            replies = self._decoder.feed(chunk)
            if replies:
                return replies[0]

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()
