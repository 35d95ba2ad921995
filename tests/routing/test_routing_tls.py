"""Routing to a TLS destination: DCMTK storescp with TLS on loopback, certificates from a throwaway CA.

The destination is 127.0.0.1 and its certificate carries that IP address in subjectAltName: the broker
verifies the certificate against the destination's CA file and checks the host, as a browser would.
"""
import socket

import pytest
from django.urls import reverse

from broker.routing import delivery, services, tls
from broker.routing.models import Destination, RoutingJob, RoutingRule
from tests.certificates import CertificateAuthority, openssl
from tests.dashboard.support import make_user
from tests.routing.support import (
    StoreSCP,
    assert_delivered_identically,
    make_study,
    receive_and_complete,
    sop_instance_uid,
)

pytestmark = pytest.mark.dcmtk




def tls_storescp(directory, ca, certificate, *, require_client_certificate=True) -> StoreSCP:
    cert, key = certificate
    peer = "--require-peer-cert" if require_client_certificate else "--ignore-peer-cert"
    return StoreSCP(directory, options=("+xa", "+tls", str(key), str(cert), "+cf", str(ca.certificate), peer)).start()


def route_everything_to(port: int, **tls_fields) -> Destination:
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=port, **tls_fields)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    return destination


def tls_fields(ca, client_certificate=None) -> dict:
    cert, key = client_certificate or ("", "")
    return {"use_tls": True, "tls_ca_file": str(ca.certificate), "tls_cert_file": str(cert), "tls_key_file": str(key)}


def job_for_a_study(listener_port: int, tmp_path) -> RoutingJob:
    """A modality sends a one-image study to the broker and it completes: its routing job."""
    study = receive_and_complete(listener_port, make_study(tmp_path / "study", count=1), extra=())
    return RoutingJob.objects.get(study=study)


@pytest.mark.parametrize("mutual", [True, False], ids=["mutual TLS", "server certificate only"])
def test_it_delivers_every_instance_over_tls_with_identical_pixel_data(broker_listener, tmp_path, ca, client_certificate, mutual):
    # BROKER_ROUTING_SENDER stays "auto" with dcmsend installed: a TLS job must still go through pynetdicom.
    scp = tls_storescp(tmp_path / "pacs", ca, ca.issue("pacs", subject_alt_name="IP:127.0.0.1"), require_client_certificate=mutual)
    route_everything_to(scp.port, **tls_fields(ca, client_certificate if mutual else None))
    paths = make_study(tmp_path / "study", count=4)
    study = receive_and_complete(broker_listener, paths)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    assert_delivered_identically(scp, paths)
    job.refresh_from_db()
    assert (job.sent, job.total, job.last_error) == (4, 4, "")
    scp.stop()


def test_it_fails_with_a_certificate_error_when_another_ca_signed_the_destination_and_delivers_once_fixed(
        broker_listener, tmp_path, settings, ca, client_certificate):
    settings.BROKER_ROUTING_BACKOFF_SECONDS = 0
    settings.BROKER_ROUTING_MAX_ATTEMPTS = 2
    other_ca = CertificateAuthority(tmp_path / "other-ca", "Other CA")
    scp = tls_storescp(tmp_path / "pacs", ca, other_ca.issue("pacs", subject_alt_name="IP:127.0.0.1"))
    destination = route_everything_to(scp.port, **tls_fields(ca, client_certificate))
    paths = make_study(tmp_path / "study", count=2, mix=False)
    job = RoutingJob.objects.get(study=receive_and_complete(broker_listener, paths, extra=()))

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED
    job.refresh_from_db()
    assert job.attempts == 1 and job.next_attempt_at is not None
    assert job.last_error.split("; will retry at ")[0] == (
        f"TLS with PACS@127.0.0.1:{scp.port} failed: certificate verification failed: unable to get local issuer "
        "certificate (is the destination's certificate signed by the CA in tls_ca_file, and valid today?)")
    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP  # the retry rules as for any failed delivery
    assert "certificate verification failed" in RoutingJob.objects.get(pk=job.id).last_error
    assert scp.received() == {}

    # The administrator trusts the CA that signed the destination's certificate, and retries.
    destination.tls_ca_file = str(other_ca.certificate)
    destination.save()
    services.retry_job(job.id)
    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}
    scp.stop()


def test_it_refuses_a_certificate_that_does_not_name_the_destination_host(broker_listener, tmp_path, ca, client_certificate):
    scp = tls_storescp(tmp_path / "pacs", ca, ca.issue("pacs", subject_alt_name="DNS:pacs.example.org"))
    route_everything_to(scp.port, **tls_fields(ca, client_certificate))
    job = job_for_a_study(broker_listener, tmp_path)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    last_error = RoutingJob.objects.get(pk=job.id).last_error
    assert "certificate verification failed: IP address mismatch, certificate is not valid for '127.0.0.1'" in last_error
    assert "subjectAltName" in last_error
    assert scp.received() == {}
    scp.stop()


def test_it_says_tls_is_not_answered_when_the_destination_listens_without_tls(broker_listener, tmp_path, ca, client_certificate):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    route_everything_to(scp.port, **tls_fields(ca, client_certificate))
    job = job_for_a_study(broker_listener, tmp_path)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    last_error = RoutingJob.objects.get(pk=job.id).last_error
    assert last_error.startswith(f"TLS with PACS@127.0.0.1:{scp.port} failed: the TLS handshake failed: the destination "
                                 "closed the connection or did not answer in TLS")
    assert last_error.split("; will retry at ")[0].endswith("is TLS enabled on that port?")
    scp.stop()


def test_it_says_the_destination_requires_a_client_certificate(broker_listener, tmp_path, ca):
    scp = tls_storescp(tmp_path / "pacs", ca, ca.issue("pacs", subject_alt_name="IP:127.0.0.1"))
    route_everything_to(scp.port, **tls_fields(ca))  # no client certificate configured
    job = job_for_a_study(broker_listener, tmp_path)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    assert "the destination requires a client certificate: set tls_cert_file and tls_key_file" in (
        RoutingJob.objects.get(pk=job.id).last_error)
    scp.stop()


def test_it_says_the_destination_did_not_accept_the_client_certificate(broker_listener, tmp_path, ca):
    scp = tls_storescp(tmp_path / "pacs", ca, ca.issue("pacs", subject_alt_name="IP:127.0.0.1"))
    stranger = CertificateAuthority(tmp_path / "other-ca", "Other CA").issue("broker", client=True)
    route_everything_to(scp.port, **tls_fields(ca, stranger))
    job = job_for_a_study(broker_listener, tmp_path)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    assert "the destination did not accept the broker's client certificate" in RoutingJob.objects.get(pk=job.id).last_error
    scp.stop()


def test_it_gives_up_the_attempt_when_the_destination_never_answers_the_handshake(broker_listener, tmp_path, settings, ca):
    settings.BROKER_ROUTING_TIMEOUT = 1
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections (backlog), never speaks
        route_everything_to(silent.getsockname()[1], **tls_fields(ca))
        job = job_for_a_study(broker_listener, tmp_path)

        assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    assert "no TLS handshake answer from the destination in time" in RoutingJob.objects.get(pk=job.id).last_error


def test_it_waits_for_an_operator_when_a_tls_file_is_missing(broker_listener, tmp_path):
    route_everything_to(104, use_tls=True, tls_ca_file=str(tmp_path / "missing-ca.pem"))
    job = job_for_a_study(broker_listener, tmp_path)

    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP

    assert RoutingJob.objects.get(pk=job.id).last_error == (
        f"TLS configuration of destination PACS: tls_ca_file {tmp_path / 'missing-ca.pem'}: No such file or directory")


def test_it_explains_each_unusable_tls_file(tmp_path, ca, client_certificate):
    cert, key = client_certificate
    _, other_key = ca.issue("other", client=True)
    encrypted = tmp_path / "encrypted.key"
    openssl("ec", "-in", key, "-aes256", "-passout", "pass:secret", "-out", encrypted)
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    cases = [
        ({"tls_ca_file": str(tmp_path / "nope.pem")}, f"tls_ca_file {tmp_path / 'nope.pem'}: No such file or directory"),
        ({"tls_ca_file": str(not_pem)}, f"tls_ca_file {not_pem}: no PEM certificate in it"),
        ({"tls_key_file": str(key)}, "tls_key_file is set without tls_cert_file"),
        ({"tls_cert_file": str(cert), "tls_key_file": str(other_key)},
         "the key in tls_key_file does not belong to the certificate in tls_cert_file"),
        ({"tls_cert_file": str(cert), "tls_key_file": str(encrypted)}, "tls_key_file is encrypted with a passphrase"),
        ({"tls_cert_file": str(not_pem), "tls_key_file": str(key)},
         f"tls_cert_file {not_pem} / tls_key_file {key}: not a PEM certificate and its private key"),
    ]
    for fields, message in cases:
        with pytest.raises(tls.TLSConfigurationError) as raised:
            tls.client_context(Destination(name="PACS", use_tls=True, **fields))
        assert str(raised.value).startswith(message), (fields, str(raised.value))
    assert tls.client_context(Destination(name="PACS", use_tls=True, tls_ca_file=str(ca.certificate), tls_cert_file=str(cert),
                                          tls_key_file=str(key))) is not None


def test_it_refuses_unusable_tls_files_in_the_admin_and_saves_usable_ones(client, db, tmp_path, ca):
    client.force_login(make_user("administrator"))
    form = {"name": "PACS", "ae_title": "PACS", "host": "127.0.0.1", "port": "2762", "max_associations": "1",
            "enabled": "on", "use_tls": "on", "tls_ca_file": str(tmp_path / "missing-ca.pem")}

    response = client.post(reverse("admin:routing_destination_add"), form)

    assert response.status_code == 200
    assert f"TLS: tls_ca_file {tmp_path / 'missing-ca.pem'}: No such file or directory" in response.content.decode()
    assert Destination.objects.count() == 0
    response = client.post(reverse("admin:routing_destination_add"), {**form, "tls_ca_file": str(ca.certificate)})
    assert response.status_code == 302
    assert Destination.objects.get().tls_ca_file == str(ca.certificate)
