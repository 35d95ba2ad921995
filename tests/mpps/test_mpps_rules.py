"""Pure MPPS rules: Table F.7.2-1 checks, field extraction, and how scheduled steps and orders follow."""
import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from mpps import attributes, errors, extraction
from mpps.n_set import merge
from mpps.status_rules import order_status, step_status
from tests.mpps.support import n_create_dataset, n_set_dataset, series_item, unscheduled_ssa_item

# Some cases feed deliberately invalid values, which pydicom rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")


def create_dataset() -> Dataset:
    return n_create_dataset(ssa_items=[unscheduled_ssa_item("1.2.3")])


@pytest.mark.parametrize("keyword, error, status_tag", [
    ("PerformedProcedureStepID", errors.MissingAttribute, 0x00400253),
    ("PerformedStationAETitle", errors.MissingAttribute, 0x00400241),
    ("Modality", errors.MissingAttribute, 0x00080060),
    ("ScheduledStepAttributesSequence", errors.MissingAttribute, 0x00400270),
    ("PatientID", errors.MissingAttribute, 0x00100020),  # Type 2: must be there, may be empty
    ("PerformedSeriesSequence", errors.MissingAttribute, 0x00400340),
])
def test_it_refuses_a_create_without_a_required_attribute(keyword, error, status_tag):
    dataset = create_dataset()
    delattr(dataset, keyword)
    with pytest.raises(error) as raised:
        attributes.check_create(dataset)
    assert raised.value.tags == [Tag(status_tag)]


@pytest.mark.parametrize("keyword, value, error", [
    ("PerformedProcedureStepID", "", errors.MissingAttributeValue),
    ("PerformedProcedureStepStartDate", "", errors.MissingAttributeValue),
    ("PerformedProcedureStepStatus", "COMPLETED", errors.InvalidAttributeValue),
    ("PerformedProcedureStepStatus", "STARTED", errors.InvalidAttributeValue),
    ("PatientID", "", None),
    ("PerformedLocation", "", None),
])
def test_it_checks_create_values(keyword, value, error):
    dataset = create_dataset()
    setattr(dataset, keyword, value)
    if error is None:
        attributes.check_create(dataset)
    else:
        with pytest.raises(error):
            attributes.check_create(dataset)


def test_it_accepts_a_create_missing_type2_attributes_when_told_to_be_lenient():
    dataset = create_dataset()
    del dataset.PatientBirthDate
    attributes.check_create(dataset, type2=False)
    with pytest.raises(errors.MissingAttribute):
        attributes.check_create(dataset, type2=True)


def test_it_checks_the_scheduled_step_items_and_series_items():
    dataset = create_dataset()
    del dataset.ScheduledStepAttributesSequence[0].StudyInstanceUID
    with pytest.raises(errors.MissingAttribute, match="Scheduled Step item 1"):
        attributes.check_create(dataset)
    dataset = create_dataset()
    item = series_item()
    item.SeriesInstanceUID = "not-a-uid"
    dataset.PerformedSeriesSequence = Sequence([item])
    with pytest.raises(errors.InvalidAttributeValue):
        attributes.check_create(dataset)


@pytest.mark.parametrize("keyword", sorted(["PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                                            "ScheduledStepAttributesSequence", "PerformedProcedureStepID",
                                            "PerformedStationAETitle", "PerformedProcedureStepStartDate",
                                            "Modality", "StudyID", "SOPInstanceUID"]))
def test_it_refuses_to_set_attributes_table_f721_does_not_allow(keyword):
    change = n_set_dataset()
    setattr(change, keyword, Sequence() if keyword.endswith("Sequence") else "X")
    with pytest.raises(errors.AttributeNotSettable):
        attributes.check_set(change, stored=Dataset())


@pytest.mark.parametrize("change, stored, expected", [
    (n_set_dataset(series=[series_item()]), Dataset(), "IN PROGRESS"),
    (n_set_dataset("COMPLETED", series=[series_item()]), Dataset(), "COMPLETED"),
    (n_set_dataset("DISCONTINUED"), Dataset(), "DISCONTINUED"),  # stopped before any series: allowed
    (n_set_dataset("COMPLETED"), Dataset(), errors.MissingAttributeValue),  # completed with no series
    (n_set_dataset("FINISHED"), Dataset(), errors.InvalidAttributeValue),
])
def test_it_checks_set_values(change, stored, expected):
    if isinstance(expected, str):
        assert attributes.check_set(change, stored=stored) == expected
    else:
        with pytest.raises(expected):
            attributes.check_set(change, stored=stored)


def test_it_takes_a_final_end_time_from_what_was_stored():
    change = n_set_dataset("COMPLETED", series=[series_item()])
    del change.PerformedProcedureStepEndDate, change.PerformedProcedureStepEndTime
    with pytest.raises(errors.MissingAttribute):
        attributes.check_set(change, stored=Dataset())
    stored = Dataset()
    stored.PerformedProcedureStepEndDate, stored.PerformedProcedureStepEndTime = "20261126", "090000"
    assert attributes.check_set(change, stored=stored) == "COMPLETED"


@pytest.mark.parametrize("value, expected", [
    ("083000", (8, 30, 0, 0)), ("0830", (8, 30, 0, 0)), ("08", (8, 0, 0, 0)), ("083000.5", (8, 30, 0, 500000)),
    ("08:30:00", (8, 30, 0, 0)), ("235960", (23, 59, 59, 0)),
])
def test_it_reads_dicom_times(value, expected):
    moment = extraction.parse_tm(value, "PerformedProcedureStepStartTime")
    assert (moment.hour, moment.minute, moment.second, moment.microsecond) == expected


@pytest.mark.parametrize("value", ["8h30", "2500", "", "0830000"])
def test_it_refuses_bad_times(value):
    with pytest.raises(errors.InvalidAttributeValue):
        extraction.parse_tm(value, "PerformedProcedureStepStartTime")


@pytest.mark.parametrize("keys, unscheduled", [
    (extraction.ScheduledStepKeys("1.2.3"), True),
    (extraction.ScheduledStepKeys("1.2.3", accession_number="A1"), False),
    (extraction.ScheduledStepKeys("1.2.3", sps_id="S1"), False),
])
def test_it_recognises_the_unscheduled_case(keys, unscheduled):
    assert keys.is_unscheduled is unscheduled


def test_it_reads_the_performed_series_and_the_discontinuation_reason():
    change = n_set_dataset("DISCONTINUED", series=[series_item(3)], reason=("110501", "DCM", "Equipment failure"))
    rows = extraction.performed_series(change)
    assert [(r["image_count"], r["protocol_name"]) for r in rows] == [(3, "HEAD ROUTINE")]
    fields = extraction.update_fields(change)
    assert (fields["discontinuation_reason_code"], fields["discontinuation_reason_meaning"]) == (
        "110501^DCM", "Equipment failure")
    assert extraction.performed_series(n_set_dataset("COMPLETED")) is None


@pytest.mark.parametrize("current, performed, expected", [
    ("SCHEDULED", [("IN PROGRESS", "")], "STARTED"),
    ("ARRIVED", [("IN PROGRESS", "")], "STARTED"),
    ("STARTED", [("COMPLETED", "")], "COMPLETED"),
    ("STARTED", [("DISCONTINUED", "110501^DCM")], "DISCONTINUED"),
    ("STARTED", [("DISCONTINUED", "110514^DCM")], "SCHEDULED"),  # wrong worklist entry: back on the list
    ("STARTED", [("COMPLETED", ""), ("IN PROGRESS", "")], "STARTED"),  # another MPPS still running
    ("STARTED", [("COMPLETED", ""), ("DISCONTINUED", "")], "COMPLETED"),
    ("CANCELED", [("IN PROGRESS", "")], "CANCELED"),
    ("COMPLETED", [("IN PROGRESS", "")], "COMPLETED"),  # IHE append case
    ("SCHEDULED", [], "SCHEDULED"),
])
def test_it_derives_the_scheduled_step_status(current, performed, expected):
    assert step_status(current, performed) == expected


@pytest.mark.parametrize("current, steps, expected", [
    ("SCHEDULED", ["STARTED"], "IN_PROGRESS"),
    ("SCHEDULED", ["STARTED", "SCHEDULED"], "IN_PROGRESS"),
    ("IN_PROGRESS", ["COMPLETED", "SCHEDULED"], "IN_PROGRESS"),
    ("IN_PROGRESS", ["COMPLETED", "COMPLETED"], "COMPLETED"),
    ("IN_PROGRESS", ["COMPLETED", "CANCELED"], "COMPLETED"),
    ("IN_PROGRESS", ["DISCONTINUED"], "DISCONTINUED"),
    ("IN_PROGRESS", ["SCHEDULED"], "SCHEDULED"),
    ("HELD", ["SCHEDULED"], "HELD"),
    ("SCHEDULED", [], "SCHEDULED"),
])
def test_it_derives_the_order_status(current, steps, expected):
    assert order_status(current, steps) == expected


def test_it_merges_an_n_set_over_the_stored_dataset():
    stored = {"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}, "00400252": {"vr": "CS", "Value": ["IN PROGRESS"]}}
    change = {"00080005": {"vr": "CS", "Value": ["ISO_IR 192"]}, "00400252": {"vr": "CS", "Value": ["COMPLETED"]}}
    merged = merge(stored, change)
    assert merged["00400252"]["Value"] == ["COMPLETED"]
    assert merged["00080005"]["Value"] == ["ISO_IR 192"]
    assert merge(stored, {"00080005": stored["00080005"]})["00080005"]["Value"] == ["ISO_IR 100"]
