"""TLS towards the RIS (MLLP) and the MPPS destinations (DICOM): a real TLS RIS and a real TLS MPPS SCP on
loopback with certificates made by the test; delivered with the right CA, and a failure an administrator can
act on with the wrong one."""
import pytest
from django.urls import reverse
from pydicom.uid import generate_uid

from broker.core.tls import server_context
from broker.outbound import forwarding, notifying, services
from broker.outbound.models import DeliveryState, MppsDestination, RisEndpoint
from mpps.models import PerformedProcedureStep
from tests.certificates import CertificateAuthority
from tests.dashboard.support import make_user
from tests.factories import make_step
from tests.mpps.support import RecordingMppsScp, RisServer, running, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_client_certificate(ca):
    return ca.issue("BROKER", client=True)


@pytest.fixture
def other_ca(tmp_path):
    return CertificateAuthority(tmp_path / "other-ca", "Other CA")


def peer_context(ca, *, mutual=True):
    """The server context of a RIS or PACS at 127.0.0.1, signed by `ca`; client certificates required when mutual."""
    cert, key = ca.issue(f"peer-{generate_uid()[-8:]}", subject_alt_name="IP:127.0.0.1")
    return server_context(str(cert), str(key), str(ca.certificate) if mutual else "")


def tls_fields(ca, client_certificate=None) -> dict:
    cert, key = client_certificate or ("", "")
    return {"use_tls": True, "tls_ca_file": str(ca.certificate), "tls_cert_file": str(cert), "tls_key_file": str(key)}


def completed_order():
    order = make_step().requested_procedure.order
    order.status = "COMPLETED"
    order.save()
    return order


def notification_for(ris_port: int, timeout_seconds=5, **fields):
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris_port, timeout_seconds=timeout_seconds, **fields)
    notification, = services.queue_notifications(completed_order())
    return notification


def forward_to(scp_port: int, **fields):
    MppsDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=scp_port, **fields)
    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01")
    forward, = services.queue_forwards(step, "N-CREATE", {"00400252": {"vr": "CS", "Value": ["IN PROGRESS"]}})
    return forward, step


def last_error(row) -> str:
    row.refresh_from_db()
    return row.last_error.split("; will retry at ")[0]


# --- the RIS ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutual", [True, False], ids=["mutual TLS", "server certificate only"])
def test_it_tells_the_ris_over_tls(ca, broker_client_certificate, mutual):
    with running(RisServer(ssl_context=peer_context(ca, mutual=mutual))) as ris:
        notification = notification_for(ris.port, **tls_fields(ca, broker_client_certificate if mutual else None))

        assert notifying.deliver(notification.pk).sent

        notification.refresh_from_db()
        assert notification.state == DeliveryState.SENT and notification.last_error == ""
        assert segment(notification.ack, "MSA")[1:3] == ["AA", notification.control_id]
        received, = ris.messages()
        assert segment(received, "ORC")[5] == "CM"


def test_it_says_the_ris_certificate_is_not_signed_by_the_ca_and_delivers_once_fixed(ca, other_ca,
                                                                                     broker_client_certificate):
    with running(RisServer(ssl_context=peer_context(other_ca, mutual=False))) as ris:
        notification = notification_for(ris.port, **tls_fields(ca, broker_client_certificate))

        assert not notifying.deliver(notification.pk).sent

        assert last_error(notification) == (
            f"TLS with 127.0.0.1:{ris.port} failed: certificate verification failed: unable to get local issuer "
            "certificate (is the RIS's certificate signed by the CA in tls_ca_file, and valid today?)")
        assert notification.state == DeliveryState.FAILED and ris.messages() == []

        RisEndpoint.objects.update(tls_ca_file=str(other_ca.certificate))  # the administrator trusts the RIS's CA
        services.retry_notification(notification.pk)
        assert notifying.deliver(notification.pk).sent
        assert len(ris.messages()) == 1


def test_it_says_the_ris_requires_a_client_certificate(ca):
    with running(RisServer(ssl_context=peer_context(ca, mutual=True))) as ris:
        notification = notification_for(ris.port, **tls_fields(ca))

        assert not notifying.deliver(notification.pk).sent

        error = last_error(notification)
        assert error.startswith(f"TLS with 127.0.0.1:{ris.port} failed: ")
        assert ("the RIS requires a client certificate: set tls_cert_file and tls_key_file" in error
                or "it probably requires a client certificate: set tls_cert_file and tls_key_file" in error)
        assert ris.tls_refusals and ris.messages() == []


def test_it_says_the_ris_does_not_answer_in_tls(ca):
    with running(RisServer()) as plain_ris:  # reads the ClientHello as bytes outside a frame, and waits for more
        notification = notification_for(plain_ris.port, timeout_seconds=1, **tls_fields(ca))

        assert not notifying.deliver(notification.pk).sent

        assert last_error(notification) == (f"TLS with 127.0.0.1:{plain_ris.port} failed: no TLS handshake answer "
                                            "from the RIS in time (is it a TLS port?)")


def test_it_names_the_endpoint_and_field_when_a_tls_file_went_missing(tmp_path):
    notification = notification_for(1, use_tls=True, tls_ca_file=str(tmp_path / "gone.pem"))

    assert not notifying.deliver(notification.pk).sent

    assert last_error(notification) == (f"TLS configuration of RIS endpoint RIS: tls_ca_file {tmp_path / 'gone.pem'}: "
                                        "No such file or directory")


# --- the MPPS destinations ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutual", [True, False], ids=["mutual TLS", "server certificate only"])
def test_it_forwards_mpps_over_tls(ca, broker_client_certificate, mutual):
    with running(RecordingMppsScp(ssl_context=peer_context(ca, mutual=mutual))) as scp:
        forward, step = forward_to(scp.port, **tls_fields(ca, broker_client_certificate if mutual else None))

        assert forwarding.deliver(forward.pk).sent

        forward.refresh_from_db()
        assert (forward.state, forward.response_status, forward.last_error) == (DeliveryState.SENT, 0x0000, "")
        assert scp.operations(step.sop_instance_uid) == ["N-CREATE"]


def test_it_says_the_mpps_destination_certificate_is_not_signed_by_the_ca(ca, other_ca, broker_client_certificate):
    with running(RecordingMppsScp(ssl_context=peer_context(other_ca, mutual=False))) as scp:
        forward, step = forward_to(scp.port, **tls_fields(ca, broker_client_certificate))

        assert not forwarding.deliver(forward.pk).sent

        assert last_error(forward) == (
            f"TLS with PACS@127.0.0.1:{scp.port} failed: certificate verification failed: unable to get local issuer "
            "certificate (is the destination's certificate signed by the CA in tls_ca_file, and valid today?)")
        assert forward.state == DeliveryState.FAILED and scp.operations(step.sop_instance_uid) == []

        MppsDestination.objects.update(tls_ca_file=str(other_ca.certificate))
        services.retry_forward(forward.pk)
        assert forwarding.deliver(forward.pk).sent
        assert scp.operations(step.sop_instance_uid) == ["N-CREATE"]


def test_it_says_the_mpps_destination_did_not_accept_the_client_certificate(ca, other_ca):
    stranger = other_ca.issue("BROKER", client=True)
    with running(RecordingMppsScp(ssl_context=peer_context(ca, mutual=True))) as scp:
        forward, step = forward_to(scp.port, **tls_fields(ca, stranger))

        assert not forwarding.deliver(forward.pk).sent

        error = last_error(forward)
        assert error.startswith(f"TLS with PACS@127.0.0.1:{scp.port} failed: ")
        # the alert when it is read in time, else the words for a peer that closed after the handshake (TLS 1.3)
        assert ("the destination did not accept the broker's client certificate" in error
                or "the destination closed the connection right after the TLS handshake; it probably did not accept "
                   "the broker's client certificate (tls_cert_file)" in error)
        assert scp.operations(step.sop_instance_uid) == []


# --- the admin ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, form, model", [
    ("admin:outbound_risendpoint_add", {"name": "RIS", "host": "127.0.0.1", "port": "2575", "message_format": "AUTO",
                                        "timeout_seconds": "10"}, RisEndpoint),
    ("admin:outbound_mppsdestination_add", {"name": "PACS", "ae_title": "PACS", "host": "127.0.0.1", "port": "2762"},
     MppsDestination),
], ids=["RIS endpoint", "MPPS destination"])
def test_it_refuses_unusable_tls_files_in_the_admin_and_saves_usable_ones(client, tmp_path, ca, url, form, model):
    client.force_login(make_user("administrator"))
    cert, key = ca.issue("BROKER", client=True)
    _, other_key = ca.issue("OTHER", client=True)
    form = {**form, "enabled": "on", "use_tls": "on"}

    missing = client.post(reverse(url), {**form, "tls_ca_file": str(tmp_path / "missing-ca.pem")})
    wrong_key = client.post(reverse(url), {**form, "tls_cert_file": str(cert), "tls_key_file": str(other_key)})

    assert missing.status_code == wrong_key.status_code == 200
    assert f"TLS: tls_ca_file {tmp_path / 'missing-ca.pem'}: No such file or directory" in missing.content.decode()
    assert ("TLS: the key in tls_key_file does not belong to the certificate in tls_cert_file"
            in wrong_key.content.decode())
    assert model.objects.count() == 0
    saved = client.post(reverse(url), {**form, "tls_ca_file": str(ca.certificate), "tls_cert_file": str(cert),
                                       "tls_key_file": str(key)})
    assert saved.status_code == 302
    assert model.objects.get().use_tls is True
