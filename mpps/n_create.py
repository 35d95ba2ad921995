"""N-CREATE: a modality starts a performed procedure step (PS3.4 F.7.2.1)."""
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from pydicom import Dataset
from pydicom.tag import Tag

from mpps import journal
from mpps.attributes import check_create
from mpps.errors import DuplicateInstance, InvalidAttributeValue
from mpps.extraction import performed_series, scheduled_step_keys, step_fields, text
from mpps.linking import find_patient, find_scheduled_steps, refresh_statuses
from mpps.models import PerformedProcedureStep, PerformedSeries
from mpps.signals import performed_step_created
from worklist.uids import uid_problem

log = logging.getLogger(__name__)

AFFECTED_SOP_INSTANCE_UID = Tag(0x0000, 0x1000)


def check_instance_uid(sop_instance_uid: str) -> str:
    uid = (sop_instance_uid or "").strip()
    if not uid:
        # F.7.2.1.2: the SCU shall supply it; the broker does not invent one for a modality that forgot.
        raise InvalidAttributeValue(AFFECTED_SOP_INSTANCE_UID, "missing; the MPPS SCU must supply it")
    problem = uid_problem(uid)
    if problem:
        raise InvalidAttributeValue(AFFECTED_SOP_INSTANCE_UID, f"{uid[:20]!r} {problem}")
    return uid


def replace_series(performed_step: PerformedProcedureStep, rows: list[dict]) -> None:
    """F.7.2.2.1: a sequence in an N-SET carries all its items, so the stored series are replaced whole."""
    performed_step.series.all().delete()
    unique = {row["series_instance_uid"]: row for row in rows}  # a series listed twice is kept once, last wins
    PerformedSeries.objects.bulk_create(PerformedSeries(performed_step=performed_step, **row) for row in unique.values())


def create_performed_step(sop_instance_uid: str, dataset: Dataset, *, calling_ae: str = "",
                          peer: str = "") -> PerformedProcedureStep:
    """Store a new IN PROGRESS step, link it to its scheduled steps and start them, all in one transaction."""
    uid = check_instance_uid(sop_instance_uid)
    check_create(dataset, type2=settings.BROKER_MPPS_REQUIRE_TYPE2)
    fields = step_fields(dataset)
    keys = scheduled_step_keys(dataset)
    series = performed_series(dataset) or []
    received = journal.as_json(dataset)
    with transaction.atomic():
        steps, notes = find_scheduled_steps(keys, fields["modality"])
        patient_id = (steps[0].requested_procedure.order.patient_id if steps
                      else getattr(find_patient(fields["reported_patient_id"], text(dataset, "IssuerOfPatientID")),
                                   "pk", None))
        try:
            # The unique SOP Instance UID decides, also between two concurrent N-CREATEs; raising here leaves
            # the atomic block, so the whole transaction rolls back.
            performed_step = PerformedProcedureStep.objects.create(
                sop_instance_uid=uid, calling_ae=calling_ae[:16], patient_id=patient_id, dataset=received,
                linking_note="; ".join(notes)[:255], **fields)
        except IntegrityError:
            raise DuplicateInstance(uid) from None
        if steps:
            link = PerformedProcedureStep.scheduled_steps.through
            link.objects.bulk_create(link(performedprocedurestep=performed_step, scheduledprocedurestep=step)
                                     for step in steps)
        elif notes:
            log.warning("MPPS %s from %s is not linked: %s", uid, calling_ae, "; ".join(notes))
        if series:
            replace_series(performed_step, series)
        orders_changed = refresh_statuses([step.pk for step in steps])
        journal.record("N-CREATE", uid, received, calling_ae=calling_ae, peer=peer, performed_step=performed_step)
        performed_step_created.send(sender=PerformedProcedureStep, performed_step=performed_step,
                                    attributes=received, orders_changed=orders_changed, relinked=False)
    log.info("MPPS %s created by %s: %s scheduled step(s)%s", uid, calling_ae, len(steps),
             "" if steps else " (unscheduled)")
    return performed_step
