"""Storage commitment over real associations: the modality stores (DCMTK storescu and pynetdicom), asks for
commitment (pynetdicom N-ACTION), and receives the N-EVENT-REPORT on the same association or on a new one."""
import threading

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage

from broker.commitment.models import RefusedCommitmentRequest, StorageCommitment
from broker.core.work_queue import WorkState
from broker.dicom import tasks
from broker.dicom.models import RemoteAE
from tests.commitment.support import Modality, action_information
from tests.routing.support import make_image, storescu
from tests.waiting import wait_until

pytestmark = pytest.mark.dcmtk


def reference(path) -> tuple[str, str]:
    ds = dcmread(path, stop_before_pixels=True)
    return str(ds.SOPClassUID), str(ds.SOPInstanceUID)


def image(tmp_path, name: str, **fields):
    return make_image(tmp_path / f"{name}.dcm", study_uid="1.2.826.0.1.3680043.10.1", series_uid="1.2.826.0.1.3680043.10.1.1",
                      **fields)


def store_with_pynetdicom(port, path, calling="MODALITY1"):
    ds = dcmread(path)
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    try:
        assert assoc.send_c_store(ds).Status == 0x0000
    finally:
        assoc.release()


def store_with_storescu(port, path):
    result = storescu(port, [path])
    assert result.returncode == 0, result.stderr


def test_it_reports_on_the_same_association_when_every_instance_is_stored(broker_listener, quick, tmp_path):
    first, second = image(tmp_path, "a", number=1), image(tmp_path, "b", number=2)
    store_with_storescu(broker_listener, first)
    store_with_pynetdicom(broker_listener, second)
    modality = Modality(broker_listener)
    info = action_information([reference(first), reference(second)])

    status = modality.request(info, wait_for_report=20)

    assert status.Status == 0x0000
    (report,) = modality.reports
    assert (report.event_type, report.on_new_association) == (1, False)
    assert report.info.TransactionUID == info.TransactionUID
    assert report.committed == {reference(first), reference(second)}
    assert "FailedSOPSequence" not in report.info
    row = StorageCommitment.objects.get()
    assert (row.state, row.reported_via, row.event_type, row.response_status) == (WorkState.SENT, "SAME", 1, 0)


def test_it_reports_a_missing_instance_failed_with_0x0112_after_the_wait(broker_listener, quick, tmp_path):
    quick.BROKER_COMMITMENT_WAIT_SECONDS = 1
    stored, never_sent = image(tmp_path, "a", number=1), image(tmp_path, "b", number=2)
    store_with_storescu(broker_listener, stored)
    modality = Modality(broker_listener)

    status = modality.request(action_information([reference(stored), reference(never_sent)]), wait_for_report=20)

    assert status.Status == 0x0000
    (report,) = modality.reports
    assert report.event_type == 2
    assert report.committed == {reference(stored)}
    assert report.failed == {reference(never_sent)[1]: 0x0112}


def test_it_reports_a_class_instance_mismatch_with_0x0119(broker_listener, quick, tmp_path):
    ct_image = image(tmp_path, "ct")
    store_with_storescu(broker_listener, ct_image)
    modality = Modality(broker_listener)
    _, instance = reference(ct_image)

    modality.request(action_information([(MRImageStorage, instance)]), wait_for_report=20)

    (report,) = modality.reports
    assert report.event_type == 2
    assert report.failed == {instance: 0x0119}
    assert report.committed == set()


def test_it_answers_once_an_instance_still_arriving_is_stored(broker_listener, quick, tmp_path):
    late = image(tmp_path, "late")
    modality = Modality(broker_listener)
    asking = threading.Thread(target=modality.request, args=(action_information([reference(late)]),),
                              kwargs={"wait_for_report": 25})
    asking.start()
    wait_until(lambda: StorageCommitment.objects.exists(), 10, message="request kept")

    store_with_storescu(broker_listener, late)
    asking.join(30)

    (report,) = modality.reports
    assert (report.event_type, report.committed) == (1, {reference(late)})


def test_it_reports_on_a_new_association_when_the_modality_released_first(broker_listener, quick, modality_listener,
                                                                          tmp_path):
    stored, late = image(tmp_path, "a", number=1), image(tmp_path, "b", number=2)
    store_with_pynetdicom(broker_listener, stored)
    modality = Modality(broker_listener)

    assert modality.request(action_information([reference(stored), reference(late)])).Status == 0x0000  # released
    store_with_storescu(broker_listener, late)
    row = StorageCommitment.objects.get()
    tasks.report_commitment(row.pk)  # what the worker runs for the message the listener enqueued

    (report,) = modality_listener.reports
    assert report.on_new_association and report.scp_role_proposed
    assert (report.event_type, report.calling_ae) == (1, "BROKER")
    assert report.committed == {reference(stored), reference(late)}
    assert modality.reports == []
    row.refresh_from_db()
    assert (row.state, row.reported_via) == (WorkState.SENT, "NEW")


def test_it_keeps_the_report_failed_and_due_when_the_modality_has_no_address(broker_listener, quick, tmp_path):
    quick.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 1  # the modality releases within it
    path = image(tmp_path, "a")
    store_with_storescu(broker_listener, path)
    Modality(broker_listener, ae_title="NOADDRESS").request(action_information([reference(path)]))
    wait_until(lambda: StorageCommitment.objects.filter(state=WorkState.PENDING).exists(), 5, message="kept")
    row = StorageCommitment.objects.get()

    tasks.report_commitment(row.pk)

    row.refresh_from_db()
    assert row.state == WorkState.FAILED and row.next_attempt_at is not None
    assert "remote AE NOADDRESS has no registered host and port" in row.last_error


def test_it_refuses_an_ae_not_allowed_the_commitment_service(broker_listener, quick, tmp_path):
    RemoteAE.objects.create(ae_title="STOREONLY", allowed_services=["store"])

    status = Modality(broker_listener, ae_title="STOREONLY").request(action_information([("1.2.3", "1.2.3.4")]))

    assert status.Status == 0x0124
    assert "not allowed the commitment service" in status.ErrorComment
    assert not StorageCommitment.objects.exists()


MALFORMED = [
    # (what the modality sends, status, words of the Error Comment)
    ({"action_type": 2}, 0x0123, "Action Type ID 2"),
    ({"instance_uid": "1.2.840.10008.1.20.1.2"}, 0x0112, "Requested SOP Instance"),
    ({"info": "no transaction"}, 0x0115, "TransactionUID (0008,1195) missing"),
    ({"info": "no references"}, 0x0115, "ReferencedSOPSequence (0008,1199) missing"),
]


@pytest.mark.parametrize(("sent", "status", "words"), MALFORMED)
def test_it_refuses_a_malformed_request_with_a_precise_status_and_a_row(broker_listener, quick, sent, status, words):
    info = action_information([("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4")], transaction_uid="1.2.3.77")
    if sent.get("info") == "no transaction":
        del info.TransactionUID
    if sent.get("info") == "no references":
        del info.ReferencedSOPSequence
    kwargs = {key: value for key, value in sent.items() if key != "info"}

    answer = Modality(broker_listener).request(info, **kwargs)

    assert answer.Status == status
    assert words in answer.ErrorComment
    refused = wait_until(lambda: RefusedCommitmentRequest.objects.first(), 5, message="refusal row")
    assert (refused.status, refused.calling_ae) == (status, "MODALITY1")
    assert words in refused.error_comment
    assert not StorageCommitment.objects.exists()


def test_it_answers_a_repeated_request_once_and_a_reused_transaction_uid_with_0x0131(broker_listener, quick, tmp_path):
    path = image(tmp_path, "a")
    store_with_storescu(broker_listener, path)
    modality = Modality(broker_listener)
    info = action_information([reference(path)])
    modality.request(info, wait_for_report=20)

    other = action_information([reference(path), ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5")],
                               transaction_uid=info.TransactionUID)
    modality.request(other, wait_for_report=20)

    first, second = modality.reports
    assert first.event_type == 1
    assert second.event_type == 2
    assert set(second.failed.values()) == {0x0131}
