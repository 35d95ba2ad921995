"""The Instance Availability Notification's attribute list (PS3.4 R.3, Table R.3-1), from plain values: pure.

Required: Referenced Performed Procedure Step Sequence (Type 2: empty when no MPPS is known), Study Instance UID,
Referenced Series Sequence → Referenced SOP Sequence with Referenced SOP Class/Instance UID, Instance Availability
and Retrieve AE Title. The patient and request attributes the table lists as optional (Patient's Name, Patient ID,
Issuer of Patient ID, Referenced Request Sequence with Accession Number, Requested Procedure ID and the order
numbers) are sent when the study's order is known, so the subscriber can match the study to its own records.
"""
from dataclasses import dataclass, field

from pydicom import Dataset

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
UTF8 = "ISO_IR 192"


@dataclass(frozen=True)
class AvailableInstance:
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    online: bool = True  # False once retention housekeeping removed the file


@dataclass(frozen=True)
class RequestedProcedure:
    """One item of the Referenced Request Sequence: the order and procedure the study was made for."""

    study_instance_uid: str
    accession_number: str = ""
    requested_procedure_id: str = ""
    placer_order_number: str = ""
    filler_order_number: str = ""


@dataclass(frozen=True)
class Patient:
    patient_id: str = ""
    name: str = ""  # DICOM PN form, Unicode
    issuer_of_patient_id: str = ""


@dataclass(frozen=True)
class StudyAvailability:
    study_instance_uid: str
    instances: tuple[AvailableInstance, ...]
    retrieve_ae_titles: tuple[str, ...]
    performed_step_uids: tuple[str, ...] = ()  # the MPPS SOP Instance UIDs of the study
    patient: Patient = field(default_factory=Patient)
    requests: tuple[RequestedProcedure, ...] = ()


def _referenced_step(uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = MPPS_SOP_CLASS
    item.ReferencedSOPInstanceUID = uid
    item.PerformedWorkitemCodeSequence = []  # Type 2; a modality step has no workitem code
    return item


def _referenced_sop(instance: AvailableInstance, retrieve_ae_titles: tuple[str, ...]) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = instance.sop_class_uid
    item.ReferencedSOPInstanceUID = instance.sop_instance_uid
    item.InstanceAvailability = "ONLINE" if instance.online else "UNAVAILABLE"
    item.RetrieveAETitle = list(retrieve_ae_titles) if len(retrieve_ae_titles) > 1 else retrieve_ae_titles[0]
    return item


def _request_item(request: RequestedProcedure) -> Dataset:
    item = Dataset()
    item.StudyInstanceUID = request.study_instance_uid
    item.AccessionNumber = request.accession_number
    item.RequestedProcedureID = request.requested_procedure_id
    if request.placer_order_number:
        item.PlacerOrderNumberImagingServiceRequest = request.placer_order_number
    if request.filler_order_number:
        item.FillerOrderNumberImagingServiceRequest = request.filler_order_number
    return item


def _needs_utf8(values) -> bool:
    return any(not value.isascii() for value in values)


def notification_dataset(study: StudyAvailability) -> Dataset:
    """The N-CREATE attribute list; series and instances in the order given (the storage order)."""
    if not study.retrieve_ae_titles:
        raise ValueError("an IAN names at least one Retrieve AE Title")
    ds = Dataset()
    texts = (study.patient.name, study.patient.patient_id, study.patient.issuer_of_patient_id)
    if _needs_utf8(texts):
        ds.SpecificCharacterSet = UTF8
    ds.ReferencedPerformedProcedureStepSequence = [_referenced_step(uid) for uid in study.performed_step_uids]
    ds.StudyInstanceUID = study.study_instance_uid
    series: dict[str, list[Dataset]] = {}
    for instance in study.instances:
        series.setdefault(instance.series_instance_uid, []).append(_referenced_sop(instance, study.retrieve_ae_titles))
    items = []
    for series_uid, sops in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = sops
        items.append(item)
    ds.ReferencedSeriesSequence = items
    if study.patient.patient_id or study.patient.name:
        ds.PatientName = study.patient.name
        ds.PatientID = study.patient.patient_id
        if study.patient.issuer_of_patient_id:
            ds.IssuerOfPatientID = study.patient.issuer_of_patient_id
    if study.requests:
        ds.ReferencedRequestSequence = [_request_item(request) for request in study.requests]
    return ds
