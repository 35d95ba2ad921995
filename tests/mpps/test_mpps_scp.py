"""The MPPS SCP over real associations: what the modality is answered and what the worklist then shows."""
import subprocess

import pytest
from django.utils import timezone
from pydicom import dcmread
from pydicom.uid import generate_uid

from mpps.models import MppsRequest, PerformedProcedureStep, PerformedSeries
from mpps.services import link_unscheduled
from tests.factories import make_order, make_procedure, make_step
from tests.mpps.support import Modality, n_create_dataset, n_set_dataset, series_item, unscheduled_ssa_item
from worklist.models import ImagingOrder, ScheduledProcedureStep

pytestmark = pytest.mark.django_db(transaction=True)




@pytest.fixture
def modality(broker_port):
    with Modality(broker_port) as scu:
        yield scu


def status_of(step) -> str:
    return ScheduledProcedureStep.objects.get(pk=step.pk).status


def order_status_of(step) -> str:
    return ImagingOrder.objects.get(pk=step.requested_procedure.order_id).status


def test_it_creates_an_in_progress_step_and_starts_the_scheduled_step(modality):
    step = make_step()
    status, uid = modality.create(n_create_dataset(step))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.status == "IN PROGRESS"
    assert list(performed.scheduled_steps.all()) == [step]
    assert performed.patient == step.requested_procedure.order.patient
    assert performed.calling_ae == "CT01" and performed.modality == "CT"
    assert timezone.localtime(performed.started_at).strftime("%Y%m%d %H%M") == "20261126 0830"
    assert performed.dataset["00400252"]["Value"] == ["IN PROGRESS"]  # the request kept as received
    assert status_of(step) == "STARTED"
    assert order_status_of(step) == "IN_PROGRESS"
    assert MppsRequest.objects.get(sop_instance_uid=uid).status == 0


def test_it_records_the_performed_series_of_an_n_set_and_stays_in_progress(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    first = series_item(image_count=3)
    status = modality.set(uid, n_set_dataset(series=[first]))
    assert status.Status == 0x0000
    series = PerformedSeries.objects.get(performed_step__sop_instance_uid=uid)
    assert series.series_instance_uid == first.SeriesInstanceUID
    assert series.image_count == 3
    assert [r["sop_instance_uid"] for r in series.referenced_images] == [
        ref.ReferencedSOPInstanceUID for ref in first.ReferencedImageSequence]
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).status == "IN PROGRESS"
    assert status_of(step) == "STARTED"


def test_it_completes_the_step_and_the_worklist_entry(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    status = modality.set(uid, n_set_dataset("COMPLETED", series=[series_item(2), series_item(1)]))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.status == "COMPLETED"
    assert timezone.localtime(performed.ended_at).strftime("%H%M") == "0845"
    assert sorted(performed.series.values_list("image_count", flat=True)) == [1, 2]
    assert status_of(step) == "COMPLETED"
    assert order_status_of(step) == "COMPLETED"


def test_it_discontinues_the_step_with_its_reason(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    status = modality.set(uid, n_set_dataset("DISCONTINUED", reason=("110501", "DCM", "Equipment failure")))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.status == "DISCONTINUED"
    assert (performed.discontinuation_reason_code, performed.discontinuation_reason_meaning) == (
        "110501^DCM", "Equipment failure")
    assert status_of(step) == "DISCONTINUED"
    assert order_status_of(step) == "DISCONTINUED"


def test_it_puts_the_entry_back_on_the_worklist_when_the_wrong_entry_was_chosen(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    assert status_of(step) == "STARTED"
    modality.set(uid, n_set_dataset("DISCONTINUED", reason=("110514", "DCM", "Incorrect worklist entry selected")))
    assert status_of(step) == "SCHEDULED"
    assert order_status_of(step) == "SCHEDULED"


def test_it_refuses_a_second_n_create_of_the_same_instance(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    status, _ = modality.create(n_create_dataset(step), uid=uid)
    assert status.Status == 0x0111
    assert PerformedProcedureStep.objects.filter(sop_instance_uid=uid).count() == 1
    assert MppsRequest.objects.filter(sop_instance_uid=uid, status=0x0111).exists()


def test_it_answers_an_n_set_of_an_unknown_instance_with_no_such_instance(modality):
    status = modality.set(generate_uid(), n_set_dataset("COMPLETED", series=[series_item()]))
    assert status.Status == 0x0112
    assert "No such MPPS" in status.ErrorComment


def test_it_refuses_an_n_set_after_the_step_is_final(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    modality.set(uid, n_set_dataset("COMPLETED", series=[series_item()]))
    status = modality.set(uid, n_set_dataset("DISCONTINUED"))
    assert status.Status == 0x0110
    assert status.ErrorComment == "Performed Procedure Step Object may no longer be updated"
    assert status.ErrorID == 0xA710
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).status == "COMPLETED"
    assert status_of(step) == "COMPLETED"


def test_it_refuses_an_n_create_missing_a_required_attribute(modality):
    step = make_step()
    dataset = n_create_dataset(step)
    del dataset.PerformedProcedureStepID
    status, uid = modality.create(dataset)
    assert status.Status == 0x0120
    assert status.ErrorComment == "Missing (0040,0253) PerformedProcedureStepID"
    assert not PerformedProcedureStep.objects.filter(sop_instance_uid=uid).exists()
    assert status_of(step) == "SCHEDULED"
    refusal = MppsRequest.objects.get(sop_instance_uid=uid)
    assert refusal.status == 0x0120 and refusal.dataset["00400244"]["Value"] == ["20261126"]


def test_it_refuses_an_n_create_whose_status_is_not_in_progress(modality):
    step = make_step()
    dataset = n_create_dataset(step)
    dataset.PerformedProcedureStepStatus = "COMPLETED"
    status, uid = modality.create(dataset)
    assert status.Status == 0x0106
    assert status.ErrorComment.startswith("(0040,0252) PerformedProcedureStepStatus")
    assert not PerformedProcedureStep.objects.filter(sop_instance_uid=uid).exists()


def test_it_refuses_an_n_set_that_changes_the_patient(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    change = n_set_dataset()
    change.PatientID = "OTHER"
    status = modality.set(uid, change)
    assert status.Status == 0x0105
    assert status.ErrorComment == "Not settable (0010,0020) PatientID"
    assert status["AttributeIdentifierList"].VM == 1 and int(status.AttributeIdentifierList) == 0x00100020
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).reported_patient_id == step.requested_procedure.order.patient.patient_id


def test_it_refuses_completion_without_an_end_time(modality):
    step = make_step()
    _, uid = modality.create(n_create_dataset(step))
    change = n_set_dataset("COMPLETED", series=[series_item()])
    change.PerformedProcedureStepEndTime = ""
    status = modality.set(uid, change)
    assert status.Status == 0x0121
    assert "(0040,0251)" in status.ErrorComment
    assert status_of(step) == "STARTED"


def test_it_keeps_an_unscheduled_step_and_staff_link_it_later(modality):
    step = make_step()
    status, uid = modality.create(n_create_dataset(ssa_items=[unscheduled_ssa_item()], patient_id="EMERG0001"))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.is_unscheduled and performed.scheduled_steps.count() == 0
    assert status_of(step) == "SCHEDULED"
    modality.set(uid, n_set_dataset("COMPLETED", series=[series_item()]))

    link_unscheduled(performed.pk, [step.pk])

    assert list(PerformedProcedureStep.objects.get(pk=performed.pk).scheduled_steps.all()) == [step]
    assert status_of(step) == "COMPLETED"
    assert order_status_of(step) == "COMPLETED"


def test_it_links_one_performed_step_to_several_scheduled_steps(modality):
    order = make_order()
    first = make_step(make_procedure(order))
    second = make_step(make_procedure(order))
    other_order_step = make_step()
    status, uid = modality.create(n_create_dataset(first, second, other_order_step))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert set(performed.scheduled_steps.all()) == {first, second, other_order_step}
    assert {status_of(s) for s in (first, second, other_order_step)} == {"STARTED"}
    modality.set(uid, n_set_dataset("COMPLETED", series=[series_item()]))
    assert {status_of(s) for s in (first, second, other_order_step)} == {"COMPLETED"}
    assert order_status_of(first) == order_status_of(other_order_step) == "COMPLETED"


def test_it_notes_a_scheduled_step_item_that_matches_nothing(modality):
    ghost = unscheduled_ssa_item()
    ghost.AccessionNumber, ghost.ScheduledProcedureStepID = "NOSUCHACC", "NOSUCHSPS"
    status, uid = modality.create(n_create_dataset(ssa_items=[ghost]))
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.is_unscheduled
    assert "accession NOSUCHACC" in performed.linking_note


def worklist_accessions(dcmtk, port: int, accession: str, tmp_path) -> list[str]:
    """Ask the broker's worklist with DCMTK's findscu, as an independent modality would."""
    out = tmp_path / f"mwl-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    subprocess.run([dcmtk("findscu"), "-W", "-aet", "CT01", "-aec", "BROKER", "-X", "-od", str(out),
                    "-k", f"AccessionNumber={accession}", "-k", "PatientName", "-k", "PatientID",
                    "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepID",
                    "-k", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
                    "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
                    "127.0.0.1", str(port)], check=True, capture_output=True, timeout=60)
    return [dcmread(path).AccessionNumber for path in sorted(out.glob("rsp*.dcm"))]


def test_it_takes_a_completed_step_off_the_worklist(modality, broker_port, dcmtk, tmp_path):
    step = make_step()
    accession = step.requested_procedure.order.accession_number
    assert worklist_accessions(dcmtk, broker_port, accession, tmp_path) == [accession]
    _, uid = modality.create(n_create_dataset(step))
    modality.set(uid, n_set_dataset("COMPLETED", series=[series_item()]))
    assert worklist_accessions(dcmtk, broker_port, accession, tmp_path) == []


def test_it_stores_latin1_text_as_unicode(modality):
    step = make_step()
    dataset = n_create_dataset(step, patient_name="MÜLLER^JÜRGEN")
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.PerformedProcedureStepDescription = "Schädel nativ"
    status, uid = modality.create(dataset)
    assert status.Status == 0x0000
    performed = PerformedProcedureStep.objects.get(sop_instance_uid=uid)
    assert performed.reported_patient_name == "MÜLLER^JÜRGEN"
    assert performed.description == "Schädel nativ"
