"""MPPS SCP against hostile values over real associations: UIDs that are not UIDs, NUL bytes in values.

Each is refused 0x0106 (invalid attribute value) naming the attribute, on SQLite and PostgreSQL alike, never
0x0110 "Database unavailable; please retry"; nothing is stored and staff see the refusal in the journal.
"""
import pytest

from mpps.models import MppsRequest, PerformedProcedureStep
from tests.factories import make_step
from tests.mpps.support import n_create_dataset, n_set_dataset, series_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.filterwarnings("ignore::UserWarning")]

HOSTILE_UIDS = [".", "..", "1..2.3", "1.02.003", "1.2.3."]




def assert_refused(status, uid, comment_start):
    assert status.Status == 0x0106
    assert status.ErrorComment.startswith(comment_start)
    assert PerformedProcedureStep.objects.count() == 0
    refusal = MppsRequest.objects.get(sop_instance_uid=uid[:64])
    assert (refusal.status, refusal.error_comment) == (0x0106, status.ErrorComment)


@pytest.mark.parametrize("value", HOSTILE_UIDS)
def test_it_refuses_an_n_create_whose_sop_instance_uid_is_not_a_uid(modality, value):
    status, uid = modality.create(n_create_dataset(make_step()), uid=value)

    assert_refused(status, uid, "(0000,1000) AffectedSOPInstanceUID:")


@pytest.mark.parametrize("value", HOSTILE_UIDS)
def test_it_refuses_an_n_create_whose_study_instance_uid_is_not_a_uid(modality, value):
    dataset = n_create_dataset(make_step())
    dataset.ScheduledStepAttributesSequence[0].StudyInstanceUID = value

    status, uid = modality.create(dataset)

    assert_refused(status, uid, "(0020,000D) StudyInstanceUID:")


@pytest.mark.parametrize("value", HOSTILE_UIDS)
def test_it_refuses_an_n_set_whose_series_instance_uid_is_not_a_uid(modality, value):
    _, uid = modality.create(n_create_dataset(make_step()))
    series = series_item()
    series.SeriesInstanceUID = value

    status = modality.set(uid, n_set_dataset("COMPLETED", series=[series]))

    assert status.Status == 0x0106
    assert status.ErrorComment.startswith("(0020,000E) SeriesInstanceUID:")
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).status == "IN PROGRESS"


@pytest.mark.parametrize("keyword, tag", [("PatientName", "(0010,0010)"), ("PerformedStationName", "(0040,0242)"),
                                          ("PerformedProcedureStepDescription", "(0040,0254)")])
def test_it_refuses_a_nul_byte_in_an_n_create_as_an_invalid_value(modality, keyword, tag):
    dataset = n_create_dataset(make_step())
    setattr(dataset, keyword, "AB\x00CD")

    status, uid = modality.create(dataset)

    assert_refused(status, uid, f"{tag} {keyword}: has a NUL byte")
    assert "\\0" in str(MppsRequest.objects.get(sop_instance_uid=uid).dataset)  # staff see where it was


def test_it_refuses_a_nul_byte_in_an_n_set_as_an_invalid_value(modality):
    _, uid = modality.create(n_create_dataset(make_step()))
    modification = n_set_dataset()
    modification.PerformedProcedureStepDescription = "CT\x00HEAD"

    status = modality.set(uid, modification)

    assert status.Status == 0x0106
    assert status.ErrorComment == "(0040,0254) PerformedProcedureStepDescription: has a NUL byte"
    assert MppsRequest.objects.filter(sop_instance_uid=uid, status=0x0106).exists()


def test_it_answers_a_database_data_error_as_an_invalid_value_not_retry():
    from django.db import DataError

    from broker.dicom.services.mpps import status_for

    status = status_for(DataError("value too long for type character varying(64)"))
    assert status.Status == 0x0106
    assert "retry" not in status.ErrorComment
