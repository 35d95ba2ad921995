"""Audit messages as syslog: the target URL, the RFC 5424 message and its framing. Pure (no socket, no Django).

- `parse_target("tls://host:6514")`: where and how to send (tls: RFC 5425, tcp: RFC 6587, udp: RFC 5426).
- `message(...)`: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM MSG` (RFC 5424), facility 10
  (authpriv), severity from the event outcome, MSGID `IHE+RFC-3881` (IHE ITI-20), MSG the DICOM audit XML in
  UTF-8 with its byte order mark (RFC 5424 section 6.4).
- `frame(message, transport)`: octet counting `LEN SP MSG` on a stream (RFC 5425 4.3, RFC 6587 3.4.1); a
  datagram carries the message as it is (RFC 5426 3.1).
"""
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

FACILITY_AUTHPRIV = 10
APP_NAME = "broker"
MSGID = "IHE+RFC-3881"
BOM = b"\xef\xbb\xbf"
NIL = "-"
DEFAULT_PORTS = {"tls": 6514, "tcp": 601, "udp": 514}
# The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header octets); RFC 5426 3.2.
MAX_DATAGRAM = 65507

# PS3.15 A.5 EventOutcomeIndicator → RFC 5424 severity.
SEVERITY = {0: 5, 4: 4, 8: 3, 12: 3}  # notice, warning, error, error


class BadTarget(ValueError):
    """BROKER_AUDIT_SYSLOG is not tls://, tcp:// or udp://host[:port]."""


@dataclass(frozen=True)
class Target:
    transport: str  # "tls", "tcp" or "udp"
    host: str
    port: int

    def __str__(self):
        return f"{self.transport}://{self.host}:{self.port}"


def parse_target(url: str, setting: str = "BROKER_AUDIT_SYSLOG") -> Target:
    parts = urlsplit(url.strip())
    transport = parts.scheme.lower()
    if transport not in DEFAULT_PORTS:
        raise BadTarget(f"{setting}={url!r}: use tls://host:6514, tcp://host:601 or udp://host:514")
    try:
        port = parts.port or DEFAULT_PORTS[transport]
    except ValueError as exc:
        raise BadTarget(f"{setting}={url!r}: the port is not a number from 1 to 65535") from exc
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise BadTarget(f"{setting}={url!r}: give only a host and a port, e.g. {transport}://audit.example:"
                        f"{DEFAULT_PORTS[transport]}")
    return Target(transport, parts.hostname, port)


def priority(outcome: int) -> int:
    """PRI = facility × 8 + severity; an outcome DICOM does not define is an error."""
    return FACILITY_AUTHPRIV * 8 + SEVERITY.get(int(outcome), 3)


def timestamp(time: datetime) -> str:
    """RFC 5424 TIMESTAMP: RFC 3339 in UTC, microseconds (at most 6 fraction digits)."""
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header_field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, cut to its limit; NILVALUE when nothing is left."""
    cleaned = "".join(c for c in str(value) if 33 <= ord(c) <= 126)[:limit]
    return cleaned or NIL


def message(*, outcome: int, time: datetime, hostname: str, procid: str, xml: str) -> bytes:
    header = " ".join((f"<{priority(outcome)}>1", timestamp(time), header_field(hostname, 255), APP_NAME,
                       header_field(procid, 128), MSGID, NIL))
    return header.encode("ascii") + b" " + BOM + xml.encode("utf-8")


def frame(payload: bytes, transport: str) -> bytes:
    if transport == "udp":
        return payload
    return str(len(payload)).encode("ascii") + b" " + payload
