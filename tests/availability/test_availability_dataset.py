"""The IAN attribute list (PS3.4 Table R.3-1) built from plain values: a table of cases."""
import pytest
from pydicom import Dataset

from broker.availability.dataset import (
    MPPS_SOP_CLASS,
    AvailableInstance,
    Patient,
    RequestedProcedure,
    StudyAvailability,
    notification_dataset,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def study(**fields) -> StudyAvailability:
    values = {"study_instance_uid": "1.2.3", "retrieve_ae_titles": ("BROKER",),
              "instances": (AvailableInstance("1.2.3.1", CT, "1.2.3.1.1"),)}
    values.update(fields)
    return StudyAvailability(**values)


def series_of(ds: Dataset) -> list[tuple[str, list[tuple[str, str, str, object]]]]:
    return [(item.SeriesInstanceUID,
             [(sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID, sop.InstanceAvailability, sop.RetrieveAETitle)
              for sop in item.ReferencedSOPSequence])
            for item in ds.ReferencedSeriesSequence]


@pytest.mark.parametrize("instances, expected", [
    ((AvailableInstance("1.2.3.1", CT, "1.2.3.1.1"),),
     [("1.2.3.1", [(CT, "1.2.3.1.1", "ONLINE", "BROKER")])]),
    # Instances of one series grouped under one item, series in the order they came.
    ((AvailableInstance("1.2.3.2", MR, "1.2.3.2.1"), AvailableInstance("1.2.3.1", CT, "1.2.3.1.1"),
      AvailableInstance("1.2.3.2", MR, "1.2.3.2.2")),
     [("1.2.3.2", [(MR, "1.2.3.2.1", "ONLINE", "BROKER"), (MR, "1.2.3.2.2", "ONLINE", "BROKER")]),
      ("1.2.3.1", [(CT, "1.2.3.1.1", "ONLINE", "BROKER")])]),
    # A file retention removed is no longer online.
    ((AvailableInstance("1.2.3.1", CT, "1.2.3.1.1", online=False),),
     [("1.2.3.1", [(CT, "1.2.3.1.1", "UNAVAILABLE", "BROKER")])]),
])
def test_it_lists_every_instance_under_its_series(instances, expected):
    ds = notification_dataset(study(instances=instances))
    assert ds.StudyInstanceUID == "1.2.3"
    assert series_of(ds) == expected


@pytest.mark.parametrize("titles, expected", [
    (("BROKER",), "BROKER"),
    (("AI", "PACS"), ["AI", "PACS"]),  # routed to two destinations: AE VM 1-n
])
def test_it_names_the_retrieve_ae_titles(titles, expected):
    sop = notification_dataset(study(retrieve_ae_titles=titles)).ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert (list(sop.RetrieveAETitle) if len(titles) > 1 else sop.RetrieveAETitle) == expected


def test_it_refuses_a_notification_without_a_retrieve_ae_title():
    with pytest.raises(ValueError, match="Retrieve AE Title"):
        notification_dataset(study(retrieve_ae_titles=()))


@pytest.mark.parametrize("steps, expected", [
    ((), []),  # Type 2: present and empty when no MPPS is known
    (("1.2.9.1",), [(MPPS_SOP_CLASS, "1.2.9.1", 0)]),
    (("1.2.9.1", "1.2.9.2"), [(MPPS_SOP_CLASS, "1.2.9.1", 0), (MPPS_SOP_CLASS, "1.2.9.2", 0)]),
])
def test_it_references_the_performed_procedure_steps(steps, expected):
    ds = notification_dataset(study(performed_step_uids=steps))
    assert "ReferencedPerformedProcedureStepSequence" in ds
    assert [(item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID, len(item.PerformedWorkitemCodeSequence))
            for item in ds.ReferencedPerformedProcedureStepSequence] == expected


@pytest.mark.parametrize("patient, expected", [
    (Patient(), None),  # no order, nothing on the study: the optional attributes are left out
    (Patient("PID1", "DOE^JANE"), ("PID1", "DOE^JANE", None, None)),
    (Patient("PID1", "DOE^JANE", "CITY"), ("PID1", "DOE^JANE", "CITY", None)),
    (Patient("PID1", "MÜLLER^JÖRG"), ("PID1", "MÜLLER^JÖRG", None, "ISO_IR 192")),
    (Patient("PID1", "Yamada^Tarou=山田^太郎"), ("PID1", "Yamada^Tarou=山田^太郎", None, "ISO_IR 192")),
])
def test_it_names_the_patient_when_known(patient, expected):
    ds = notification_dataset(study(patient=patient))
    if expected is None:
        assert "PatientID" not in ds and "PatientName" not in ds and "SpecificCharacterSet" not in ds
        return
    assert (ds.PatientID, str(ds.PatientName), ds.get("IssuerOfPatientID"), ds.get("SpecificCharacterSet")) == expected


def test_its_text_survives_the_wire_encoding():
    from io import BytesIO

    from pynetdicom.dsutils import decode, encode

    ds = notification_dataset(study(patient=Patient("PID1", "MÜLLER^JÖRG")))
    raw = encode(ds, True, True)  # as pynetdicom puts it on the wire, in the dataset's Specific Character Set
    assert "MÜLLER".encode() in raw
    assert str(decode(BytesIO(raw), True, True).PatientName) == "MÜLLER^JÖRG"


@pytest.mark.parametrize("requests, expected", [
    ((), None),
    ((RequestedProcedure("1.2.3", "ACC1", "RP1"),), [("1.2.3", "ACC1", "RP1", None, None)]),
    ((RequestedProcedure("1.2.3", "ACC1", "RP1", "PL1", "FI1"), RequestedProcedure("1.2.3", "ACC1", "RP2")),
     [("1.2.3", "ACC1", "RP1", "PL1", "FI1"), ("1.2.3", "ACC1", "RP2", None, None)]),
])
def test_it_references_the_request(requests, expected):
    ds = notification_dataset(study(requests=requests))
    if expected is None:
        assert "ReferencedRequestSequence" not in ds
        return
    assert [(item.StudyInstanceUID, item.AccessionNumber, item.RequestedProcedureID,
             item.get("PlacerOrderNumberImagingServiceRequest"), item.get("FillerOrderNumberImagingServiceRequest"))
            for item in ds.ReferencedRequestSequence] == expected
