"""A real syslog receiver for the tests: TLS or TCP with octet-counted frames (RFC 5425 / RFC 6587), or UDP."""
import socket
import ssl
import threading


def split_frames(data: bytes) -> list[bytes]:
    """`LEN SP MSG` frames, one after the other; a malformed stream fails the test."""
    frames = []
    while data:
        length, space, rest = data.partition(b" ")
        assert space and length.isdigit() and not length.startswith(b"0"), f"not an octet-counted frame: {data[:40]!r}"
        size = int(length)
        assert len(rest) >= size, f"frame of {size} octets cut at {len(rest)}"
        frames.append(rest[:size])
        data = rest[size:]
    return frames


class StreamReceiver:
    """Accepts connections on 127.0.0.1 (port 0: a free one), reads each to its end and keeps the frames."""

    def __init__(self, port: int = 0, context: ssl.SSLContext | None = None):
        self.context = context
        self.messages: list[bytes] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", port))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._read(conn)
                except (OSError, AssertionError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _read(self, conn: socket.socket):
        stream = self.context.wrap_socket(conn, server_side=True) if self.context else conn
        data = b""
        while chunk := stream.recv(65536):
            data += chunk
        if self.context:
            stream.unwrap()  # answer the sender's close_notify
        self.messages.extend(split_frames(data))


class DatagramReceiver:
    """A UDP socket on 127.0.0.1; `receive()` returns the next datagram."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(10)
        self.port = self._sock.getsockname()[1]

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self._sock.close()

    def receive(self) -> bytes:
        return self._sock.recvfrom(70000)[0]
