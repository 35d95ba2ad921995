"""Forwarding the trail to a real syslog receiver: events from real HL7 messages, queued with the event, sent in
order over mutual TLS (RFC 5425), plain TCP and UDP, kept while the repository is down, refused to an untrusted one."""
import ssl

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from broker.audit import events, forwarding, syslog, trail
from broker.audit.dicom_xml import to_xml
from broker.audit.export import broker_source, event_values
from broker.audit.models import AUDIT_FORWARDS, AuditEvent, AuditForward
from broker.core import tls
from broker.core.work_queue import WorkState
from broker.hl7 import intake
from tests.audit.support import events_of, valid_message
from tests.audit.syslog_receiver import DatagramReceiver, StreamReceiver
from tests.certificates import CertificateAuthority
from tests.dashboard.support import make_user
from tests.hl7.support import msa, orm, pid
from tests.services import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The hospital CA (signs the repository and the broker), and another CA nobody trusts."""
    directory = tmp_path_factory.mktemp("syslog-pki")
    hospital = CertificateAuthority(directory / "hospital")
    stranger = CertificateAuthority(directory / "stranger", name="Stranger CA")
    return {
        "ca": hospital.certificate,
        "repository": hospital.issue("audit-repository", subject_alt_name="DNS:localhost,IP:127.0.0.1"),
        "broker": hospital.issue("broker", client=True),
        "impostor": stranger.issue("impostor", subject_alt_name="DNS:localhost,IP:127.0.0.1"),
        "stranger_ca": stranger.certificate,
    }


def repository_context(pki, certificate="repository", client_ca="ca"):
    cert, key = pki[certificate]
    return tls.server_context(str(cert), str(key), str(pki[client_ca]))  # client certificates required


def broker_tls(pki, port):
    cert, key = pki["broker"]
    return override_settings(BROKER_AUDIT_SYSLOG=f"tls://localhost:{port}", BROKER_AUDIT_SYSLOG_CA_FILE=str(pki["ca"]),
                             BROKER_AUDIT_SYSLOG_CERT_FILE=str(cert), BROKER_AUDIT_SYSLOG_KEY_FILE=str(key),
                             BROKER_OUTBOUND_RETRY_BASE_SECONDS=0, BROKER_OUTBOUND_PENDING_GRACE_SECONDS=0)


def hl7_orders(count: int) -> list[AuditEvent]:
    """Real HL7 orders through the intake, each applied with its audit event."""
    for n in range(count):
        receipt = intake.receive(orm(control_id=f"SYS-{n}", placer=f"PL-S{n}", accession=f"ACC-S{n}",
                                     patient=pid(f"P-SYS-{n}")), "127.0.0.1:40000")
        assert msa(receipt.ack)[0] == "AA"
    return list(AuditEvent.objects.filter(kind=events.HL7_ORDER).order_by("id"))


def parse(message: bytes) -> tuple[bytes, str]:
    """(the RFC 5424 header up to the BOM, the XML), the XML checked against the PS3.15 A.5.1 schema."""
    header, bom, xml = message.partition(syslog.BOM)
    assert bom, f"no BOM before MSG: {message[:80]!r}"
    valid_message(xml.decode("utf-8"))
    return header, xml.decode("utf-8")


def expected_xml(event: AuditEvent) -> str:
    return to_xml(event_values(event), broker_source())


def test_each_event_reaches_the_repository_over_mutual_tls_in_order(pki):
    with StreamReceiver(context=repository_context(pki)) as repository, broker_tls(pki, repository.port):
        recorded = hl7_orders(2)
        rows = list(AuditForward.objects.order_by("pk"))
        assert [r.event_id for r in rows] == [e.pk for e in AuditEvent.objects.order_by("pk")]  # every event queued
        for row in rows:
            assert forwarding.deliver(row.pk).sent
        wait_until(lambda: len(repository.messages) == len(rows), message=f"the frames ({repository.errors})")
    header, xml = parse(repository.messages[0])
    fields = header.decode("ascii").split(" ")
    assert fields[0] == "<85>1" and fields[3:] == ["broker", fields[4], "IHE+RFC-3881", "-", ""]
    assert fields[1] == recorded[0].time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sent_xml = [parse(m)[1] for m in repository.messages]
    assert sent_xml == [expected_xml(AuditEvent.objects.get(pk=r.event_id)) for r in rows]
    assert "P-SYS-1" in sent_xml[-1] and "SYS-1" in sent_xml[-1]
    assert set(AuditForward.objects.values_list("state", flat=True)) == {WorkState.SENT}


def test_a_refused_message_is_sent_as_a_warning():
    with StreamReceiver() as repository, override_settings(BROKER_AUDIT_SYSLOG=f"tcp://127.0.0.1:{repository.port}"):
        assert msa(intake.receive(orm(control_id="SYS-AE", patient=pid("")), "127.0.0.1:40000").ack)[0] == "AE"
        [row] = AuditForward.objects.filter(event__kind=events.HL7_REFUSED)
        assert forwarding.deliver(row.pk).sent
        wait_until(lambda: repository.messages, message=f"the frame ({repository.errors})")
    header, xml = parse(repository.messages[0])
    assert header.startswith(b"<84>1 ") and 'EventOutcomeIndicator="4"' in xml


def test_events_queued_while_the_repository_is_down_all_arrive_in_order_once_it_is_up(pki):
    port = free_port()
    with broker_tls(pki, port):
        hl7_orders(3)
        rows = list(AuditForward.objects.order_by("pk"))
        first = forwarding.deliver(rows[0].pk)
        assert not first.sent and first.retry_in is not None
        assert [forwarding.deliver(r.pk).row for r in rows[1:]] == [None] * (len(rows) - 1)  # behind the first
        failed = AuditForward.objects.get(pk=rows[0].pk)
        assert failed.state == WorkState.FAILED and f"tls://localhost:{port}" in failed.last_error
        assert "refused" in failed.last_error.lower() and "will retry" in failed.last_error
        assert set(AuditForward.objects.exclude(pk=failed.pk).values_list("state", flat=True)) == {WorkState.PENDING}

        with StreamReceiver(port=port, context=repository_context(pki)) as repository:
            # The sweep finds the failed row due and the waiting ones past their grace, in event order.
            released, enqueued = AUDIT_FORWARDS.sweep(lambda pk: forwarding.deliver(pk))
            assert enqueued == len(rows)
            wait_until(lambda: len(repository.messages) == len(rows), message=f"the frames ({repository.errors})")
    assert [parse(m)[1] for m in repository.messages] == [
        expected_xml(AuditEvent.objects.get(pk=r.event_id)) for r in rows]
    assert list(AuditForward.objects.order_by("pk").values_list("state", "attempts")) == (
        [(WorkState.SENT, 2)] + [(WorkState.SENT, 1)] * (len(rows) - 1))


def test_a_repository_with_an_untrusted_certificate_is_refused_with_the_reason_on_the_row(pki):
    with StreamReceiver(context=repository_context(pki, certificate="impostor")) as impostor, \
            broker_tls(pki, impostor.port):
        hl7_orders(1)
        row = AuditForward.objects.order_by("pk").first()
        outcome = forwarding.deliver(row.pk)
    row.refresh_from_db()
    assert not outcome.sent and row.state == WorkState.FAILED
    assert "certificate verification failed" in row.last_error and "BROKER_AUDIT_SYSLOG_CA_FILE" in row.last_error
    assert impostor.messages == []


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_repository_that_does_not_trust_the_brokers_certificate_fails_the_row(pki, version):
    context = repository_context(pki, client_ca="stranger_ca")  # it accepts only clients the stranger CA signed
    # TLS 1.2 refuses inside the handshake; TLS 1.3 after the broker's side of it (seen at the close).
    context.minimum_version = context.maximum_version = version
    with StreamReceiver(context=context) as repository, broker_tls(pki, repository.port):
        hl7_orders(1)
        row = AuditForward.objects.order_by("pk").first()
        assert not forwarding.deliver(row.pk).sent
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and "client certificate" in row.last_error, row.last_error
    assert repository.messages == []


def test_tls_without_a_client_certificate_is_not_attempted(pki):
    with override_settings(BROKER_AUDIT_SYSLOG="tls://localhost:6514", BROKER_AUDIT_SYSLOG_CA_FILE=str(pki["ca"])):
        hl7_orders(1)
        row = AuditForward.objects.order_by("pk").first()
        assert not forwarding.deliver(row.pk).sent
    row.refresh_from_db()
    assert "BROKER_AUDIT_SYSLOG_CERT_FILE and BROKER_AUDIT_SYSLOG_KEY_FILE must be set" in row.last_error


def test_udp_sends_one_datagram_per_event_and_counts_it_sent():
    with DatagramReceiver() as repository, override_settings(BROKER_AUDIT_SYSLOG=f"udp://127.0.0.1:{repository.port}"):
        [event] = hl7_orders(1)
        row = AuditForward.objects.get(event=event)
        assert forwarding.deliver(row.pk).sent
        datagram = repository.receive()
    header, xml = parse(datagram)  # the message itself, no octet count
    assert header.startswith(b"<85>1 ") and xml == expected_xml(event)
    row.refresh_from_db()
    assert row.state == WorkState.SENT and row.sent_at is not None


def test_the_outbox_row_commits_with_its_event_or_neither_does():
    with override_settings(BROKER_AUDIT_SYSLOG="udp://127.0.0.1:9"):
        with pytest.raises(RuntimeError), transaction.atomic():
            trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=["P-GONE"])
            raise RuntimeError("the work the event records failed")
        assert not AuditEvent.objects.exists() and not AuditForward.objects.exists()
        event = trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=["P-KEPT"])
        assert AuditForward.objects.get(event=event).target == "udp://127.0.0.1:9"
    trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=["P-OFF"])  # forwarding off: no row
    assert AuditForward.objects.count() == 1


def test_giving_up_a_row_lets_the_events_behind_it_go():
    with StreamReceiver() as repository, override_settings(BROKER_AUDIT_SYSLOG=f"tcp://127.0.0.1:{repository.port}"):
        first, second = (trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=[p]) for p in ("P-1", "P-2"))
        stuck, behind = (AuditForward.objects.get(event=e) for e in (first, second))
        assert forwarding.deliver(behind.pk).row is None  # waits for the first
        assert forwarding.give_up(stuck.pk)
        assert forwarding.deliver(behind.pk).sent
        wait_until(lambda: repository.messages, message=f"the frame ({repository.errors})")
        assert forwarding.retry(stuck.pk) and forwarding.deliver(stuck.pk).sent
        wait_until(lambda: len(repository.messages) == 2)
    assert ["P-2" in parse(m)[1] for m in repository.messages] == [True, False]


def test_administrators_see_the_outbox_read_only_and_retry_or_give_up_rows_in_the_admin(client):
    with override_settings(BROKER_AUDIT_SYSLOG="udp://127.0.0.1:9"):
        first, second = (trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=[p]) for p in ("P-A", "P-B"))
    stuck, behind = (AuditForward.objects.get(event=e) for e in (first, second))
    AuditForward.objects.filter(pk=stuck.pk).update(state=WorkState.FAILED, last_error="tls://arr:6514: refused")
    client.force_login(make_user("operator"))  # the trail and its outbox are the administrators' to see
    assert client.get(reverse("admin:audit_auditforward_changelist")).status_code == 403
    client.force_login(make_user("administrator"))
    listing = client.get(reverse("admin:audit_auditforward_changelist"))
    assert listing.status_code == 200 and b"tls://arr:6514: refused" in listing.content
    change = reverse("admin:audit_auditforward_change", args=[stuck.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"target": "udp://elsewhere:514"}).status_code == 403
    assert client.post(listing.request["PATH_INFO"], {"action": "give_up", "_selected_action": [stuck.pk]}).status_code == 302
    assert AuditForward.objects.get(pk=stuck.pk).state == WorkState.GAVE_UP
    assert AUDIT_FORWARDS.claimable(AuditForward.objects.get(pk=behind.pk))  # the rest of the lane goes on
    client.post(listing.request["PATH_INFO"], {"action": "retry", "_selected_action": [stuck.pk]})
    assert AuditForward.objects.get(pk=stuck.pk).state == WorkState.PENDING
    assert [e.detail["admin_action"] for e in events_of(events.ADMIN_ACTION)] == ["give_up", "retry"]


def test_metrics_count_the_open_audit_forwards(client):
    with override_settings(BROKER_AUDIT_SYSLOG="udp://127.0.0.1:9"):
        for patient in ("P-M1", "P-M2"):
            trail.record(events.HL7_PATIENT, ae="RIS", patient_ids=[patient])
    AuditForward.objects.filter(pk=AuditForward.objects.order_by("pk").first().pk).update(state=WorkState.SENT)
    metrics = client.get("/metrics").content.decode().splitlines()
    assert 'broker_queue_depth{queue="audit_forwards"} 1' in metrics
