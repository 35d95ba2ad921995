"""Plain values that one HL7 message carries for the worklist, ready to apply."""
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from worklist.hl7map.errors import Location, MappingWarning


@dataclass
class PatientFields:
    patient_id: str
    issuer_of_patient_id: str = ""
    issuer_universal_id: str = ""
    issuer_universal_id_type: str = ""
    name: str = ""
    birth_date: date | None = None
    sex: str = ""
    mother_birth_name: str = ""
    other_patient_ids: list = field(default_factory=list)
    weight_kg: Decimal | None = None
    size_m: Decimal | None = None
    allergies: str = ""
    pregnancy_status: int | None = None
    location: Location = Location("PID", 1, 3)


@dataclass
class VisitFields:
    referring_physician_name: str = ""
    admission_id: str = ""
    current_patient_location: str = ""


@dataclass
class StepFields:
    sps_id: str = ""
    modality: str = ""
    station_ae_title: str = ""
    station_name: str = ""
    location: str = ""
    start: datetime | None = None
    start_date_only: bool = False  # the RIS sent a date without a time; `start` is the start of that day
    performing_physician_name: str = ""
    description: str = ""
    protocol_codes: list = field(default_factory=list)


@dataclass
class ProcedureFields:
    requested_procedure_id: str = ""
    description: str = ""
    code_value: str = ""
    code_scheme: str = ""
    code_meaning: str = ""
    study_instance_uid: str = ""
    comments: str = ""
    steps: list[StepFields] = field(default_factory=list)
    uid_location: Location = Location()  # where the Study Instance UID was sent (IPC-3, ZDS-1)


@dataclass
class OrderFields:
    order_control: str  # ORC-1
    order_status: str = ""  # ORC-5
    placer_order_number: str = ""
    placer_issuer: str = ""
    filler_order_number: str = ""
    filler_issuer: str = ""
    accession_number: str = ""
    accession_issuer: str = ""
    requesting_physician_name: str = ""
    priority: str = "ROUTINE"
    reason_for_procedure: str = ""
    patient_transport_arrangements: str = ""
    medical_alerts: str = ""
    patient_state: str = ""
    procedures: list[ProcedureFields] = field(default_factory=list)
    location: Location = Location("ORC", 1, 1)
    accession_location: Location = Location("OBR", 1, 18)


@dataclass
class OrderMessage:
    """ORM^O01 / OMI^O23: one patient, one or more orders."""

    patient: PatientFields
    visit: VisitFields
    orders: list[OrderFields]
    sending_application: str = ""
    sending_facility: str = ""
    hl7_version: str = ""
    warnings: list[MappingWarning] = field(default_factory=list)  # applied all the same; said in the ACK (W)


@dataclass
class PatientUpdate:
    """ADT A01/A04/A05/A08/A31: create or update the patient (and the visit of open orders)."""

    event: str
    patient: PatientFields
    visit: VisitFields


@dataclass
class PatientMerge:
    """ADT A40: the prior identifiers' records are merged into the surviving patient."""

    surviving: PatientFields
    prior: list[tuple[str, str]]  # (patient_id, issuer) from MRG-1
    location: Location = Location("MRG", 1, 1)
