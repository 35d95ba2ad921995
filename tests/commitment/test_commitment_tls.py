"""The storage commitment report on a new association over TLS, when the modality's registered address says TLS:
a TLS-only pynetdicom listener of the modality with certificates made by the test."""
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from broker.commitment.models import StorageCommitment
from broker.core.tls import server_context
from broker.core.work_queue import WorkState
from broker.dicom import tasks
from broker.dicom.admin import RemoteAEForm
from broker.dicom.models import RemoteAE
from tests.certificates import CertificateAuthority
from tests.commitment.support import Modality, ModalityListener, action_information
from tests.routing.support import make_image, storescu

pytestmark = pytest.mark.dcmtk


def listener_context(ca):
    """The modality's server context at 127.0.0.1, signed by `ca`, asking for the broker's client certificate."""
    cert, key = ca.issue(f"modality-{generate_uid()[-8:]}", subject_alt_name="IP:127.0.0.1")
    return server_context(str(cert), str(key), str(ca.certificate))


@pytest.fixture
def tls_modality(transactional_db, ca):
    scp = ModalityListener(ssl_context=listener_context(ca)).start()
    yield scp
    scp.stop()


def register(scp, ca, client_certificate, **fields) -> RemoteAE:
    cert, key = client_certificate
    values = {"ae_title": scp.ae_title, "host": "127.0.0.1", "port": scp.port, "use_tls": True,
              "tls_ca_file": str(ca.certificate), "tls_cert_file": str(cert), "tls_key_file": str(key)}
    values.update(fields)
    return RemoteAE.objects.create(**values)


def commitment_released_at_once(port, tmp_path) -> StorageCommitment:
    path = make_image(tmp_path / "a.dcm", study_uid="1.2.826.0.1.3680043.10.3", series_uid="1.2.826.0.1.3680043.10.3.1")
    assert storescu(port, [path]).returncode == 0
    ds = dcmread(path, stop_before_pixels=True)
    info = action_information([(str(ds.SOPClassUID), str(ds.SOPInstanceUID))])
    assert Modality(port).request(info).Status == 0x0000  # released at once: the report needs a new association
    return StorageCommitment.objects.get()


def test_it_reports_over_tls_when_the_registry_says_tls(broker_listener, quick, tmp_path, tls_modality, ca):
    quick.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 1  # the modality releases within it
    register(tls_modality, ca, ca.issue("BROKER", client=True))
    row = commitment_released_at_once(broker_listener, tmp_path)

    tasks.report_commitment(row.pk)  # what the worker runs for the message the listener enqueued

    (report,) = tls_modality.reports
    assert report.on_new_association and report.scp_role_proposed and report.event_type == 1
    row.refresh_from_db()
    assert (row.state, row.reported_via, row.response_status) == (WorkState.SENT, "NEW", 0x0000)


def test_it_names_the_tls_failure_when_the_modality_certificate_is_not_trusted(broker_listener, quick, tmp_path,
                                                                               tls_modality, ca):
    quick.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 1
    other = CertificateAuthority(tmp_path / "other-ca", "Other CA")
    register(tls_modality, other, ca.issue("BROKER", client=True))
    row = commitment_released_at_once(broker_listener, tmp_path)

    tasks.report_commitment(row.pk)

    assert tls_modality.reports == []
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and row.next_attempt_at is not None
    assert row.last_error.startswith(f"TLS with MODALITY1@127.0.0.1:{tls_modality.port} failed:")
    assert "certificate" in row.last_error


def test_a_plain_report_does_not_reach_a_tls_only_modality(broker_listener, quick, tmp_path, tls_modality):
    quick.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 1
    RemoteAE.objects.create(ae_title=tls_modality.ae_title, host="127.0.0.1", port=tls_modality.port)
    row = commitment_released_at_once(broker_listener, tmp_path)

    tasks.report_commitment(row.pk)

    row.refresh_from_db()
    assert row.state == WorkState.FAILED and "not established" in row.last_error
    assert tls_modality.reports == []


def test_the_admin_form_refuses_tls_files_that_cannot_be_used(db, tmp_path):
    form = RemoteAEForm(data={"ae_title": "CT01", "host": "10.0.0.5", "port": 104, "use_tls": True,
                              "tls_ca_file": str(tmp_path / "missing-ca.pem"), "allowed_services": "[]",
                              "worklist_stations": "[]", "worklist_modalities": "[]", "refused_count": 0})
    assert not form.is_valid()
    assert "TLS:" in " ".join(form.errors["__all__"])
