"""Patients from HL7: find or create (race-safe), update demographics, merge (A40).

The patient rules live here once, for every database and both ways a new order is written: an empty HL7
field means 'unchanged', not 'erase'; other patient IDs not yet known are appended; a patient merged away
by an A40 is refused (UnknownKey, AE 204).
"""
from django.db import IntegrityError

from worklist.hl7map.errors import UnknownKey
from worklist.hl7map.fields import PatientFields, PatientMerge, PatientUpdate
from worklist.models import ImagingOrder, Patient
from worklist.names import search_key

DEMOGRAPHICS = ("name", "birth_date", "sex", "mother_birth_name", "issuer_universal_id", "issuer_universal_id_type",
                "weight_kg", "size_m", "allergies", "pregnancy_status")

# Reverse relations whose rows follow a merged patient to the surviving one (orders, and MPPS records).
FOLLOW_MERGE = ("orders", "performed_steps")


def _lookup(patient_id: str, issuer: str):
    return Patient.objects.filter(patient_id=patient_id, issuer_of_patient_id=issuer)


def find_patient(fields: PatientFields) -> Patient | None:
    # (patient_id, issuer) is unique: no ORDER BY, which .first() would add (and compile) on every message.
    return next(iter(_lookup(fields.patient_id, fields.issuer_of_patient_id).order_by()[:1]), None)


def refuse_merged(patient: Patient, fields: PatientFields) -> None:
    if patient.merged_into_id:
        raise UnknownKey(f"Patient {fields.patient_id} was merged into another patient (A40); "
                         f"send messages for the surviving patient ID", fields.location)


def upsert_patient(fields: PatientFields, *, update_demographics: bool = True) -> Patient:
    patient = find_patient(fields)
    if patient is None:
        return _create(fields)
    refuse_merged(patient, fields)
    if update_demographics:
        _update(patient, fields)
    return patient


def proposed(fields: PatientFields) -> Patient:
    """The unsaved patient a message describes (what is created when the patient is new)."""
    values = {name: getattr(fields, name) for name in DEMOGRAPHICS if getattr(fields, name) not in (None, "")}
    patient = Patient(patient_id=fields.patient_id, issuer_of_patient_id=fields.issuer_of_patient_id,
                      other_patient_ids=fields.other_patient_ids, **values)
    patient.name_search = search_key(patient.name)
    return patient


def _create(fields: PatientFields) -> Patient:
    # ON CONFLICT DO NOTHING: when another connection creates the same patient at the same moment, this
    # insert waits for its commit and then inserts nothing; the row then read is the one to use, and the
    # message's values are applied to it (a no-op for the row this insert made).
    Patient.objects.bulk_create([proposed(fields)], ignore_conflicts=True)
    patient = find_patient(fields)
    if patient is None:
        raise IntegrityError(f"patient {fields.patient_id} neither inserted nor found")
    refuse_merged(patient, fields)
    _update(patient, fields)
    return patient


def demographic_changes(patient: Patient, fields: PatientFields) -> dict:
    """What the message changes on the stored patient: the values it carries that differ, and other IDs
    not yet known appended (an empty HL7 field means 'unchanged', not 'erase')."""
    changes = {name: getattr(fields, name) for name in DEMOGRAPHICS
               if getattr(fields, name) not in (None, "") and getattr(patient, name) != getattr(fields, name)}
    known = {(o.get("patient_id"), o.get("issuer")) for o in patient.other_patient_ids}
    extra = [o for o in fields.other_patient_ids if (o["patient_id"], o["issuer"]) not in known]
    if extra:
        changes["other_patient_ids"] = patient.other_patient_ids + extra
    return changes


def _update(patient: Patient, fields: PatientFields) -> None:
    changes = demographic_changes(patient, fields)
    if changes:
        for name, value in changes.items():
            setattr(patient, name, value)
        patient.save(update_fields=[*changes, "name_search", "updated_at"])


def apply_patient_update(update: PatientUpdate) -> Patient:
    """A01/A04/A05/A08/A31: the worklist reads demographics through the patient row, so it shows them at once."""
    patient = upsert_patient(update.patient)
    visit = update.visit
    changes = {}
    if visit.current_patient_location:
        changes["current_patient_location"] = visit.current_patient_location
    if visit.admission_id:
        changes["admission_id"] = visit.admission_id
    if changes:
        ImagingOrder.objects.filter(patient=patient, status__in=["SCHEDULED", "IN_PROGRESS", "HELD"]).update(**changes)
    return patient


def merge_patients(merge: PatientMerge) -> Patient:
    """A40: move the prior patients' orders and MPPS records to the surviving patient; keep the prior as an alias.

    Demographics are never taken from an A40 (A08/A31 are for that).
    """
    surviving = upsert_patient(merge.surviving, update_demographics=False)
    aliases = list(surviving.other_patient_ids)
    for prior_id, issuer in merge.prior:
        candidates = list(_lookup(prior_id, issuer).select_for_update())
        if not candidates and not issuer:  # MRG-1 without an assigning authority: a unique ID still names one
            candidates = list(Patient.objects.filter(patient_id=prior_id).select_for_update()[:2])
            candidates = candidates if len(candidates) == 1 else []
        for prior in candidates:
            if prior.pk == surviving.pk:
                continue
            for relation in Patient._meta.related_objects:
                if relation.get_accessor_name() in FOLLOW_MERGE:
                    relation.related_model.objects.filter(**{relation.field.name: prior}).update(
                        **{relation.field.name: surviving})
            Patient.objects.filter(merged_into=prior).update(merged_into=surviving)
            prior.merged_into = surviving
            prior.save(update_fields=["merged_into", "name_search", "updated_at"])
            alias = {"patient_id": prior.patient_id, "issuer": prior.issuer_of_patient_id, "type": "", "merged": True}
            if alias not in aliases:
                aliases.append(alias)
    if aliases != surviving.other_patient_ids:
        surviving.other_patient_ids = aliases
        surviving.save(update_fields=["other_patient_ids", "name_search", "updated_at"])
    return surviving
