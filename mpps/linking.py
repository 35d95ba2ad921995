"""Which scheduled steps an MPPS performed, and how those steps and their orders follow it (inside the caller's
transaction)."""
import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mpps.errors import LinkingError
from mpps.extraction import ScheduledStepKeys
from mpps.models import PerformedProcedureStep
from mpps.signals import performed_step_created, performed_step_finalized
from mpps.status_rules import order_status, step_status
from worklist.models import ImagingOrder, Patient, ScheduledProcedureStep

log = logging.getLogger(__name__)


def _candidates(keys: ScheduledStepKeys, modality: str) -> list[ScheduledProcedureStep]:
    """Steps for one SSA item, most specific key first (reference mpps.md §6)."""
    steps = ScheduledProcedureStep.objects.select_related("requested_procedure__order")
    uid, acc, rp, sps = keys.study_instance_uid, keys.accession_number, keys.requested_procedure_id, keys.sps_id
    attempts = []
    if sps:
        if uid:
            attempts.append(Q(requested_procedure__study_instance_uid=uid, sps_id=sps))
        if acc and rp:
            attempts.append(Q(requested_procedure__order__accession_number=acc,
                              requested_procedure__requested_procedure_id=rp, sps_id=sps))
        if acc:
            attempts.append(Q(requested_procedure__order__accession_number=acc, sps_id=sps))
    else:
        # The modality knew the procedure but not the step: every step of that procedure for this modality.
        if uid:
            attempts.append(Q(requested_procedure__study_instance_uid=uid))
        if acc and rp:
            attempts.append(Q(requested_procedure__order__accession_number=acc,
                              requested_procedure__requested_procedure_id=rp))
        if acc:
            attempts.append(Q(requested_procedure__order__accession_number=acc))
    for query in attempts:
        found = list(steps.filter(query).order_by("id"))
        if len(found) > 1 and modality:
            # A procedure with steps on several modalities: this MPPS performed those of its own modality.
            same = [s for s in found if s.modality == modality]
            found = same or found
        if found:
            return found
    return []


def find_scheduled_steps(keys: list[ScheduledStepKeys], modality: str = "") -> tuple[list[ScheduledProcedureStep], list[str]]:
    """The steps the SSA items point at, and a note for each item that matched nothing."""
    steps, notes = {}, []
    for index, item in enumerate(keys, start=1):
        if item.is_unscheduled and not item.study_instance_uid:
            continue
        found = _candidates(item, modality)
        if not found and not item.is_unscheduled:
            notes.append(f"item {index} (accession {item.accession_number or '-'}, RP {item.requested_procedure_id or '-'}, "
                         f"SPS {item.sps_id or '-'}) matched no scheduled step")
        for step in found:
            steps.setdefault(step.pk, step)
    return list(steps.values()), notes


def find_patient(reported_patient_id: str, issuer: str = "") -> Patient | None:
    if not reported_patient_id:
        return None
    patients = Patient.objects.filter(patient_id=reported_patient_id)
    if issuer:
        patients = patients.filter(issuer_of_patient_id=issuer)
    found = list(patients[:2])
    patient = found[0] if len(found) == 1 else None
    while patient is not None and patient.merged_into_id:
        patient = patient.merged_into
    return patient


def refresh_statuses(step_ids) -> list[ImagingOrder]:
    """Re-derive the given scheduled steps' statuses, then their orders'; return the orders whose status changed.

    Set-based on purpose: a handful of queries whatever the number of steps, since every MPPS request pays it.
    """
    step_ids = list(step_ids)
    if not step_ids:
        return []
    links = PerformedProcedureStep.scheduled_steps.through.objects.filter(scheduledprocedurestep_id__in=step_ids)
    performed = {}
    for step_id, status, reason in links.values_list("scheduledprocedurestep_id", "performedprocedurestep__status",
                                                     "performedprocedurestep__discontinuation_reason_code"):
        performed.setdefault(step_id, []).append((status, reason))
    steps = (ScheduledProcedureStep.objects.select_for_update(of=("self",)).filter(pk__in=step_ids).order_by("pk")
             .values_list("pk", "sps_id", "status", "requested_procedure__order_id"))
    moves, order_ids = {}, set()
    for pk, sps_id, current, order_id in steps:
        order_ids.add(order_id)
        new_status = step_status(current, performed.get(pk, []))
        if new_status != current:
            log.info("scheduled step %s (%s): %s → %s", pk, sps_id, current, new_status)
            moves.setdefault(new_status, []).append(pk)
    now = timezone.now()
    for new_status, pks in moves.items():
        ScheduledProcedureStep.objects.filter(pk__in=pks).update(status=new_status, updated_at=now)
    statuses = {}
    for order_id, status in (ScheduledProcedureStep.objects.filter(requested_procedure__order_id__in=order_ids)
                             .values_list("requested_procedure__order_id", "status")):
        statuses.setdefault(order_id, []).append(status)
    changed = []
    for order in ImagingOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"):
        new_status = order_status(order.status, statuses.get(order.pk, []))
        if new_status != order.status:
            log.info("order %s (accession %s): %s → %s", order.pk, order.accession_number, order.status, new_status)
            order.status = new_status
            order.save(update_fields=["status", "updated_at"])
            changed.append(order)
    return changed


def link_unscheduled(performed_step_id: int, step_ids: list[int]) -> PerformedProcedureStep:
    """Staff link a performed step (typically unscheduled) to scheduled steps: the steps and orders then follow
    it as if the modality had named them at N-CREATE, and the mpps signals go out as usual (relinked=True)."""
    wanted = sorted(set(int(i) for i in step_ids))
    if not wanted:
        raise LinkingError("choose at least one scheduled step to link")
    with transaction.atomic():
        performed_step = PerformedProcedureStep.objects.select_for_update().filter(pk=performed_step_id).first()
        if performed_step is None:
            raise LinkingError(f"no performed procedure step {performed_step_id}")
        steps = list(ScheduledProcedureStep.objects.select_related("requested_procedure__order")
                     .filter(pk__in=wanted).order_by("pk"))
        unknown = sorted(set(wanted) - {s.pk for s in steps})
        if unknown:
            raise LinkingError(f"no scheduled step(s) {', '.join(map(str, unknown))}")
        performed_step.scheduled_steps.add(*steps)
        first = steps[0].requested_procedure
        if performed_step.patient_id is None:
            performed_step.patient_id = first.order.patient_id
        performed_step.accession_number = performed_step.accession_number or first.order.accession_number[:16]
        performed_step.linking_note = ""
        performed_step.save(update_fields=["patient", "accession_number", "linking_note", "updated_at"])
        orders_changed = refresh_statuses(wanted)
        final = performed_step.is_final
        performed_step_created.send(sender=PerformedProcedureStep, performed_step=performed_step, attributes=None,
                                    orders_changed=[] if final else orders_changed, relinked=True)
        if final:
            performed_step_finalized.send(sender=PerformedProcedureStep, performed_step=performed_step,
                                          attributes=None, orders_changed=orders_changed, relinked=True)
    log.info("MPPS %s linked by staff to scheduled step(s) %s", performed_step.sop_instance_uid, wanted)
    return performed_step
