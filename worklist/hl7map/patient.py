"""PID, PV1, OBX (weight/height) and AL1 → patient and visit values."""
from decimal import Decimal, InvalidOperation

from worklist.hl7map import values
from worklist.hl7map.errors import Location, RequiredFieldMissing, SegmentSequenceError, UnknownCode, ValueTooLong
from worklist.hl7map.fields import PatientFields, VisitFields

WEIGHT_CODES = {"3141-9", "29463-7", "WEIGHT", "BODY WEIGHT", "WT", "GEWICHT"}
HEIGHT_CODES = {"8302-2", "3137-7", "HEIGHT", "BODY HEIGHT", "HT", "GROESSE", "GRÖSSE"}
# More identifiers than any patient has: each becomes an Other Patient IDs item in every worklist answer.
MAX_PATIENT_IDS = 100


def _cx(segment, field: int, repetition: int) -> dict:
    return {
        "patient_id": segment.get(field, 1, 1, repetition),
        "issuer": segment.get(field, 4, 1, repetition),
        "universal_id": segment.get(field, 4, 2, repetition),
        "universal_id_type": segment.get(field, 4, 3, repetition),
        "type": segment.get(field, 5, 1, repetition),
    }


def patient_ids(segment, field: int) -> list[dict]:
    """All CX repetitions of PID-3 (or MRG-1) that carry an ID (at most MAX_PATIENT_IDS of them)."""
    count = len(segment.repetitions(field))
    if count > MAX_PATIENT_IDS:
        raise ValueTooLong(f"{segment.name}-{field} has {count} repetitions; at most {MAX_PATIENT_IDS} patient "
                           f"identifiers are taken", Location(segment.name, segment.sequence, field))
    return [cx for rep in range(count) if (cx := _cx(segment, field, rep))["patient_id"]]


def map_patient(message, preferred_issuer: str = "") -> PatientFields:
    pid = message.first("PID")
    if pid is None:
        raise SegmentSequenceError("the message has no PID segment", Location("PID"))
    location = Location("PID", 1, 3)
    ids = patient_ids(pid, 3)
    if not ids and pid.get(2):  # some v2.3 senders still carry the ID in PID-2 only
        ids = [_cx(pid, 2, 0)]
        location = Location("PID", 1, 2)
    if not ids:
        raise RequiredFieldMissing("Patient ID (PID-3) is empty", location)
    primary = next((cx for cx in ids if preferred_issuer and cx["issuer"] == preferred_issuer), ids[0])
    others = [{"patient_id": cx["patient_id"], "issuer": cx["issuer"], "type": cx["type"]} for cx in ids if cx is not primary]
    sex_code = pid.get(8).upper()
    if sex_code not in values.SEX:
        raise UnknownCode(f"Administrative sex {sex_code!r} (PID-8) is not in HL7 table 0001", Location("PID", 1, 8))
    fields = PatientFields(
        patient_id=values.identifier(primary["patient_id"], 64, location, "Patient ID"),
        issuer_of_patient_id=values.identifier(primary["issuer"], 64, Location("PID", 1, 3, 4), "Issuer of Patient ID"),
        issuer_universal_id=primary["universal_id"][:64],
        issuer_universal_id_type=primary["universal_id_type"][:16],
        name=patient_name(pid, 5),
        birth_date=values.parse_date(pid.get(7), Location("PID", 1, 7)),
        sex=values.SEX[sex_code],
        mother_birth_name=values.person_name(pid.components(6)),
        other_patient_ids=others,
        location=location,
    )
    _observations(message, fields)
    fields.allergies = values.dicom_text(", ".join(a.get(3, 2) or a.get(3, 1) for a in message.all("AL1")))
    pv1 = message.first("PV1")
    if pv1 is not None and pv1.get(15).upper() == "B6":
        fields.pregnancy_status = 3  # DICOM "definitely pregnant"
    return fields


def patient_name(segment, field: int) -> str:
    """XPN repetitions → PN with alphabetic=ideographic=phonetic groups chosen by XPN-8 (I/P)."""
    groups = {"A": "", "I": "", "P": ""}
    for rep in range(len(segment.repetitions(field))):
        comps = segment.components(field, rep)
        representation = (comps[7] if len(comps) > 7 else "").upper() or "A"
        if representation in groups and not groups[representation]:
            groups[representation] = values.person_name(comps)
    return "=".join([groups["A"], groups["I"], groups["P"]]).rstrip("=")


def map_visit(message) -> VisitFields:
    pv1 = message.first("PV1")
    if pv1 is None:
        return VisitFields()
    point_of_care = [pv1.get(3, c) for c in (1, 2, 3)]
    admission = pv1.get(19) or (message.first("PID").get(18) if message.first("PID") else "")
    return VisitFields(
        referring_physician_name=values.xcn_name(pv1.components(8)),
        admission_id=values.dicom_text(admission),
        current_patient_location=values.dicom_text(" ".join(p for p in point_of_care if p)),
    )


def _observations(message, fields: PatientFields) -> None:
    for obx in message.all("OBX"):
        code = (obx.get(3, 1) or "").upper()
        text = (obx.get(3, 2) or "").upper()
        unit = (obx.get(6, 1) or obx.get(6, 2) or "").lower()
        try:
            number = Decimal(obx.get(5).replace(",", "."))
        except InvalidOperation:
            continue
        if code in WEIGHT_CODES or text in WEIGHT_CODES:
            factor = {"g": Decimal("0.001"), "lb": Decimal("0.45359237"), "[lb_av]": Decimal("0.45359237")}.get(unit, 1)
            fields.weight_kg = (number * factor).quantize(Decimal("0.01"))
        elif code in HEIGHT_CODES or text in HEIGHT_CODES:
            factor = {"cm": Decimal("0.01"), "mm": Decimal("0.001"), "in": Decimal("0.0254"), "[in_i]": Decimal("0.0254")}.get(unit, 1)
            if unit == "" and number > 3:  # a bare number above 3 is centimetres, not metres
                factor = Decimal("0.01")
            fields.size_m = (number * factor).quantize(Decimal("0.01"))
