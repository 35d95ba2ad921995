"""The worklist attributes the broker knows: where each value lives and how it can be matched.

Paths are relative to ScheduledProcedureStep. `match` names the matching rule used by `plan`:
  text      single value / wildcard, case-sensitive      date   single value / range on a DateField
  pn        PN on a search-key shadow column (case- and accent-insensitive, per component group)
  pn_plain  PN on the name column itself (case-insensitive, per component group)
  uid       single value / list of UIDs                  multi  single value on a '\\'-joined VM>1 column
  status    SPS status (with the default)                None   return key only
Single value and wildcard matching are case-sensitive (PS3.4 C.2.2.2.1, C.2.2.2.4) for every VR but PN.
Attributes inside the Scheduled Procedure Step Sequence are in SPS_KEYS, the rest in TOP_KEYS.
"""
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

# The PS3.4 C.2.2.2 matching types each `match` rule offers (a key with None is a return key only); the
# Conformance Statement lists them per key, so a rule added to `plan` without a line here fails its test.
MATCHING_TYPES = {
    "text": "Single Value, Wildcard, List of values; case-sensitive",
    "pn": "Single Value, Wildcard, List of values; per component group, case- and accent-insensitive",
    "pn_plain": "Single Value, Wildcard, List of values; per component group, case-insensitive",
    "uid": "Single Value, List of UID",
    "multi": "Single Value, Wildcard, List of values; a step matches when any of its values does",
    "date": "Single Value, Range",
    "start_date": "Single Value, Range; combined with the Start Time into one date-time range; no value: "
                  "today's window (BROKER_MWL_DEFAULT_WINDOW_DAYS)",
    "start_time": "Single Value, Range; combined with the Start Date",
    "status": "Single Value, List of values; not asked: the steps still waiting, asked empty: those and the "
              "started ones",
    "code": "Sequence Matching: Code Value, Coding Scheme Designator, Code Meaning (Single Value, Wildcard)",
    "json_code": "Sequence Matching: Code Value, Coding Scheme Designator, Code Meaning (Single Value, Wildcard)",
    None: "",
}

PATIENT = "requested_procedure__order__patient__"
ORDER = "requested_procedure__order__"
PROCEDURE = "requested_procedure__"


@dataclass(frozen=True)
class Key:
    keyword: str
    label: str  # the attribute's name as staff read it
    get: Callable  # step -> value for the response ("" or None when the broker has none)
    path: str | None = None  # ORM path used for matching
    match: str | None = None
    fallback: Callable | None = None  # type 1 return keys: a value when the stored one is empty


def _patient(step):
    return step.requested_procedure.order.patient


def _order(step):
    return step.requested_procedure.order


def _local_start(step):
    return timezone.localtime(step.start) if step.start else None


# Start Time is return key type 1 (PS3.4 Table K.6-1): a step the RIS scheduled for a date alone must still
# carry a time. It gets the start of that day, which is also what its start is matched as; no other time is made up.
DATE_ONLY_START_TIME = "000000"


def _start_time(step) -> str:
    if step.start is None:
        return ""
    return DATE_ONLY_START_TIME if step.start_date_only else _local_start(step).strftime("%H%M%S")


def _da(value) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _ds(value) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else str(value)
    return text[:16]


def _code_items(codes: list[dict]) -> list[dict]:
    return [{"CodeValue": c.get("value", ""), "CodingSchemeDesignator": c.get("scheme", ""),
             "CodeMeaning": c.get("meaning", "")} for c in codes if c.get("value") or c.get("meaning")]


def _procedure_codes(step) -> list[dict]:
    rp = step.requested_procedure
    return _code_items([{"value": rp.code_value, "scheme": rp.code_scheme, "meaning": rp.code_meaning}])


def _other_patient_ids(step) -> list[dict]:
    return [{"PatientID": o.get("patient_id", ""), "IssuerOfPatientID": o.get("issuer", ""),
             "TypeOfPatientID": "TEXT"} for o in (_patient(step).other_patient_ids or [])]


def _issuer_of_accession(step) -> list[dict]:
    issuer = _order(step).accession_issuer
    return [{"LocalNamespaceEntityID": issuer}] if issuer else []


TOP_KEYS = {k.keyword: k for k in [
    # Patient
    Key("PatientName", "Patient's Name", lambda s: _patient(s).name, PATIENT + "name_search", "pn",
        fallback=lambda s: "UNKNOWN"),
    Key("PatientID", "Patient ID", lambda s: _patient(s).patient_id, PATIENT + "patient_id", "text"),
    Key("IssuerOfPatientID", "Issuer of Patient ID", lambda s: _patient(s).issuer_of_patient_id,
        PATIENT + "issuer_of_patient_id", "text"),
    Key("OtherPatientIDsSequence", "Other Patient IDs Sequence", _other_patient_ids),
    Key("PatientBirthDate", "Patient's Birth Date", lambda s: _da(_patient(s).birth_date),
        PATIENT + "birth_date", "date"),
    Key("PatientSex", "Patient's Sex", lambda s: _patient(s).sex, PATIENT + "sex", "text"),
    Key("PatientWeight", "Patient's Weight", lambda s: _ds(_patient(s).weight_kg)),
    Key("PatientSize", "Patient's Size", lambda s: _ds(_patient(s).size_m)),
    Key("MedicalAlerts", "Medical Alerts", lambda s: _patient(s).medical_alerts or _order(s).medical_alerts),
    Key("Allergies", "Allergies", lambda s: _patient(s).allergies),
    Key("PregnancyStatus", "Pregnancy Status", lambda s: _patient(s).pregnancy_status),
    Key("PatientState", "Patient State", lambda s: _order(s).patient_state),
    Key("ConfidentialityConstraintOnPatientDataDescription", "Confidentiality Constraint", lambda s: ""),
    # Imaging Service Request and Visit
    Key("AccessionNumber", "Accession Number", lambda s: _order(s).accession_number,
        ORDER + "accession_number", "text"),
    Key("IssuerOfAccessionNumberSequence", "Issuer of Accession Number Sequence", _issuer_of_accession),
    Key("ReferringPhysicianName", "Referring Physician's Name", lambda s: _order(s).referring_physician_name,
        ORDER + "referring_physician_name", "pn_plain"),
    Key("RequestingPhysician", "Requesting Physician", lambda s: _order(s).requesting_physician_name,
        ORDER + "requesting_physician_name", "pn_plain"),
    Key("PlacerOrderNumberImagingServiceRequest", "Placer Order Number", lambda s: _order(s).placer_order_number,
        ORDER + "placer_order_number", "text"),
    Key("FillerOrderNumberImagingServiceRequest", "Filler Order Number", lambda s: _order(s).filler_order_number,
        ORDER + "filler_order_number", "text"),
    Key("ReasonForTheRequestedProcedure", "Reason for the Requested Procedure",
        lambda s: _order(s).reason_for_procedure),
    Key("AdmissionID", "Admission ID", lambda s: _order(s).admission_id, ORDER + "admission_id", "text"),
    Key("CurrentPatientLocation", "Current Patient Location", lambda s: _order(s).current_patient_location,
        ORDER + "current_patient_location", "text"),
    Key("PatientTransportArrangements", "Patient Transport Arrangements",
        lambda s: _order(s).patient_transport_arrangements),
    Key("RequestedProcedurePriority", "Requested Procedure Priority", lambda s: _order(s).priority,
        ORDER + "priority", "text"),
    Key("ReferencedStudySequence", "Referenced Study Sequence", lambda s: []),
    Key("ReferencedPatientSequence", "Referenced Patient Sequence", lambda s: []),
    # Requested Procedure
    Key("RequestedProcedureID", "Requested Procedure ID", lambda s: s.requested_procedure.requested_procedure_id,
        PROCEDURE + "requested_procedure_id", "text", fallback=lambda s: str(s.requested_procedure.pk)),
    Key("RequestedProcedureDescription", "Requested Procedure Description",
        lambda s: s.requested_procedure.description, PROCEDURE + "description", "text"),
    Key("RequestedProcedureCodeSequence", "Requested Procedure Code Sequence", _procedure_codes,
        PROCEDURE, "code"),
    Key("StudyInstanceUID", "Study Instance UID", lambda s: s.requested_procedure.study_instance_uid,
        PROCEDURE + "study_instance_uid", "uid"),
    Key("RequestedProcedureComments", "Requested Procedure Comments", lambda s: s.requested_procedure.comments),
]}

SPS_KEYS = {k.keyword: k for k in [
    Key("ScheduledStationAETitle", "Scheduled Station AE Title", lambda s: s.station_ae_title,
        "station_ae_title", "multi", fallback=lambda s: "UNASSIGNED"),
    Key("ScheduledProcedureStepStartDate", "Scheduled Procedure Step Start Date",
        lambda s: _da(_local_start(s)), "start", "start_date"),
    Key("ScheduledProcedureStepStartTime", "Scheduled Procedure Step Start Time",
        _start_time, "start", "start_time"),
    Key("Modality", "Modality", lambda s: s.modality, "modality", "text", fallback=lambda s: "OT"),
    Key("ScheduledPerformingPhysicianName", "Scheduled Performing Physician's Name",
        lambda s: s.performing_physician_name, "performing_physician_search", "pn"),
    Key("ScheduledProcedureStepDescription", "Scheduled Procedure Step Description", lambda s: s.description,
        "description", "text", fallback=lambda s: s.requested_procedure.description),
    Key("ScheduledStationName", "Scheduled Station Name", lambda s: s.station_name, "station_name", "multi"),
    Key("ScheduledProcedureStepLocation", "Scheduled Procedure Step Location", lambda s: s.location,
        "location", "text"),
    Key("ScheduledProtocolCodeSequence", "Scheduled Protocol Code Sequence",
        lambda s: _code_items(s.protocol_codes or []), "protocol_codes", "json_code"),
    Key("PreMedication", "Pre-Medication", lambda s: s.pre_medication),
    Key("ScheduledProcedureStepID", "Scheduled Procedure Step ID", lambda s: s.sps_id, "sps_id", "text",
        fallback=lambda s: str(s.pk)),
    Key("RequestedContrastAgent", "Requested Contrast Agent", lambda s: s.contrast_agent),
    Key("ScheduledProcedureStepStatus", "Scheduled Procedure Step Status", lambda s: s.status, "status", "status"),
]}

# Items of a code sequence: keyword → (key in the stored code dict / column suffix).
CODE_ITEM_KEYS = {"CodeValue": "value", "CodingSchemeDesignator": "scheme", "CodeMeaning": "meaning"}
CODE_COLUMNS = {"value": "code_value", "scheme": "code_scheme", "meaning": "code_meaning"}

