"""The broker's own events: start (with its configuration) and stop of a real listener process, certificate problems."""
import ssl

import pytest
from django.core.management import CommandError, call_command

from broker.audit import events
from broker.core.hl7v2.mllp import MLLPClient
from broker.core.tls import client_context
from broker.hl7.server import start_server
from tests.audit.support import coded, events_of, message_of
from tests.hl7.support import ListenerProcess, orm
from tests.waiting import wait_until


def test_runhl7_records_its_start_with_the_configuration_and_its_stop(database_url_for_subprocess):
    child = ListenerProcess(database_url_for_subprocess, extra_env={"BROKER_METRICS_TOKEN": "s3cret-token"})
    [start] = events_of(events.BROKER_START)
    assert start.detail["process"] == "hl7 listener" and start.detail["pid"] == child.proc.pid
    configuration = start.detail["configuration"]
    assert configuration["BROKER_AE_TITLE"] == "BROKER" and configuration["BROKER_AUDIT"] is True
    assert configuration["BROKER_METRICS_TOKEN"] == "(set)"  # named, never its value
    assert "s3cret-token" not in str(start.detail)
    assert child.stop() == 0
    [stop] = events_of(events.BROKER_STOP)
    assert stop.detail == {"process": "hl7 listener", "pid": child.proc.pid}
    assert [coded(message_of(e), "EventIdentification/EventTypeCode")[0] for e in (start, stop)] == ["110120", "110121"]


@pytest.mark.django_db
def test_an_unusable_certificate_at_start_is_a_security_alert(settings, tmp_path):
    settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY = str(tmp_path / "missing.pem"), str(tmp_path / "missing.key")
    with pytest.raises(CommandError, match="not started"):
        call_command("runhl7", "--host", "127.0.0.1", "--port", "0", "--tls-port", "0")
    [alert] = events_of(events.CERTIFICATE_PROBLEM)
    assert alert.outcome == 8 and alert.detail["where"] == "HL7 TLS listener"
    message_of(alert)
    assert "missing.pem" in alert.detail["problem"] or "BROKER_TLS_CERT" in alert.detail["problem"]


def test_a_client_refused_at_the_mllp_tls_handshake_is_a_security_alert(transactional_db, settings, ca):
    settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY = map(str, ca.issue("broker", subject_alt_name="IP:127.0.0.1"))
    settings.BROKER_TLS_CA = str(ca.certificate)  # mutual TLS: a client without a certificate is refused
    running = start_server("127.0.0.1", 0, block=False, tls_port=0, frame_timeout=2.0, idle_timeout=10.0)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with MLLPClient("127.0.0.1", running.tls_port, timeout=10,
                            ssl_context=client_context(str(ca.certificate), "", "")) as client:
                if not client.send(orm(control_id="NOCERT-1")):
                    raise ConnectionError("closed without an ACK")
        alert = wait_until(lambda: next(iter(events_of(events.CERTIFICATE_PROBLEM)), None), timeout=10)
    finally:
        running.shutdown()
    assert (alert.outcome, alert.detail["where"]) == (4, "MLLP TLS port")
    assert alert.actor_address.startswith("127.0.0.1") and "no certificate" in alert.detail["problem"]
    assert coded(message_of(alert), "EventIdentification/EventTypeCode")[0] == "110126"
