"""ADT A01/A04/A05/A08/A31 (patient create/update) and A40 (merge) → values."""
from worklist.hl7map import values
from worklist.hl7map.errors import Location, RequiredFieldMissing, SegmentSequenceError
from worklist.hl7map.fields import PatientMerge, PatientUpdate
from worklist.hl7map.patient import map_patient, map_visit, patient_ids

UPDATE_EVENTS = {"A01", "A04", "A05", "A08", "A31"}
MERGE_EVENTS = {"A40"}


def map_patient_update(message, event: str, preferred_issuer: str = "") -> PatientUpdate:
    return PatientUpdate(event=event, patient=map_patient(message, preferred_issuer), visit=map_visit(message))


def map_patient_merge(message, preferred_issuer: str = "") -> PatientMerge:
    mrg = message.first("MRG")
    if mrg is None:
        raise SegmentSequenceError("ADT^A40 has no MRG segment", Location("MRG"))
    prior = patient_ids(mrg, 1)
    if not prior:
        raise RequiredFieldMissing("Prior patient identifier (MRG-1) is empty", Location("MRG", 1, 1))
    where = Location("MRG", 1, 1)
    return PatientMerge(
        surviving=map_patient(message, preferred_issuer),
        prior=[(values.identifier(cx["patient_id"], 64, where, "Prior patient ID"), cx["issuer"]) for cx in prior],
        location=where,
    )
