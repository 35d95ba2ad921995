"""The syslog form of an audit message (RFC 5424, framing of RFC 5425 / 6587 / 5426) and the target setting."""
from datetime import UTC, datetime, timedelta, timezone

import pytest

from broker.audit import syslog

WHEN = datetime(2026, 3, 17, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize(("outcome", "pri"), [(0, "<85>"), (4, "<84>"), (8, "<83>"), (12, "<83>"), (99, "<83>")])
def test_the_priority_is_authpriv_with_the_outcomes_severity(outcome, pri):
    assert syslog.message(outcome=outcome, time=WHEN, hostname="h", procid="1", xml="<a/>").startswith(pri.encode())


def test_the_message_has_every_header_field_then_the_bom_and_the_xml():
    text = syslog.message(outcome=0, time=WHEN, hostname="pacs-broker.example", procid="4711",
                          xml="<AuditMessage>Müller</AuditMessage>")
    header, xml = text.split(b"\xef\xbb\xbf", 1)
    assert header == b"<85>1 2026-03-17T08:30:00.123456Z pacs-broker.example broker 4711 IHE+RFC-3881 - "
    assert xml.decode("utf-8") == "<AuditMessage>Müller</AuditMessage>"


@pytest.mark.parametrize(("value", "field"), [("", "-"), ("a b\tc", "abc"), ("höst", "hst"), ("x" * 300, "x" * 255)])
def test_header_fields_are_printable_ascii_without_spaces(value, field):
    assert syslog.header_field(value, 255) == field


@pytest.mark.parametrize(("transport", "framed"), [("tls", b"4 <a/>"), ("tcp", b"4 <a/>"), ("udp", b"<a/>")])
def test_streams_count_octets_and_a_datagram_is_the_message(transport, framed):
    assert syslog.frame(b"<a/>", transport) == framed


def test_the_octet_count_is_of_bytes_not_characters():
    payload = "ü".encode()
    assert syslog.frame(payload, "tls") == b"2 " + payload


@pytest.mark.parametrize(("url", "target"), [
    ("tls://audit.example:6514", ("tls", "audit.example", 6514)),
    ("TLS://audit.example", ("tls", "audit.example", 6514)),
    ("tcp://10.0.0.5:601", ("tcp", "10.0.0.5", 601)),
    ("udp://[::1]:5514", ("udp", "::1", 5514)),
    ("udp://arr", ("udp", "arr", 514)),
])
def test_targets(url, target):
    parsed = syslog.parse_target(url)
    assert (parsed.transport, parsed.host, parsed.port) == target


@pytest.mark.parametrize(("url", "says"), [
    ("http://audit:6514", "use tls://"),
    ("audit.example:6514", "use tls://"),
    ("tls://audit:port", "not a number"),
    ("tls://:6514", "only a host and a port"),
    ("tcp://audit:601/path", "only a host and a port"),
])
def test_bad_targets_say_what_to_write(url, says):
    with pytest.raises(syslog.BadTarget, match=says):
        syslog.parse_target(url)


def test_the_timestamp_is_utc_with_microseconds():
    assert syslog.timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
