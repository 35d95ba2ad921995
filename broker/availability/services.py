"""IAN rows made when a study is complete or routed, and the operator's retry / give-up actions.

Rows are created inside the transaction that completed (or finished routing) the study; their tasks are enqueued
on commit, and the periodic sweep re-enqueues whatever a lost task left behind.
"""
import logging

from django.conf import settings
from django.db import transaction
from pydicom.uid import generate_uid

from broker.availability import dataset, tasks
from broker.availability.models import IAN_NOTIFICATIONS, AvailabilityNotification, Event, IanSubscriber
from broker.core.work_queue import WorkState
from broker.routing.models import RoutingJob, Study

log = logging.getLogger(__name__)


def enqueue_on_commit(pk: int) -> None:
    """Send the task once the rows are committed; a broker outage only delays the work (the sweep finds it)."""
    def send():
        try:
            tasks.notify_availability.delay(pk)
        except Exception:
            log.exception("could not enqueue IAN %s; the sweep will pick it up", pk)

    transaction.on_commit(send)


def retrieve_ae_titles(study: Study, event: str) -> tuple[str, ...]:
    """Where the instances can be retrieved: the broker once complete; the destinations once routed there."""
    own = settings.BROKER_IAN_RETRIEVE_AE_TITLE or settings.BROKER_AE_TITLE
    if event == Event.ROUTED:
        titles = (RoutingJob.objects.filter(study=study, state=RoutingJob.State.DONE)
                  .order_by("destination__ae_title").values_list("destination__ae_title", flat=True).distinct())
        return tuple(titles) or (own,)
    return (own,)


def _requests(study: Study) -> tuple[dataset.RequestedProcedure, ...]:
    order = study.order
    if order is None:
        if not study.accession_number:
            return ()
        return (dataset.RequestedProcedure(study.study_instance_uid, accession_number=study.accession_number),)
    procedures = list(order.requested_procedures.order_by("pk"))
    this_study = [p for p in procedures if p.study_instance_uid == study.study_instance_uid]
    return tuple(dataset.RequestedProcedure(
        study_instance_uid=study.study_instance_uid, accession_number=order.accession_number,
        requested_procedure_id=p.requested_procedure_id, placer_order_number=order.placer_order_number,
        filler_order_number=order.filler_order_number) for p in (this_study or procedures))


def _patient(study: Study) -> dataset.Patient:
    if study.order is not None:
        patient = study.order.patient
        return dataset.Patient(patient.patient_id, patient.name, patient.issuer_of_patient_id)
    return dataset.Patient(study.patient_id, study.patient_name)


def availability_of(study: Study, event: str) -> dataset.StudyAvailability:
    """The plain facts of the notification, read from the storage index, the MPPS and the order."""
    instances = tuple(dataset.AvailableInstance(series, sop_class, sop_instance, deleted_at is None)
                      for series, sop_class, sop_instance, deleted_at in study.instances.order_by("pk").values_list(
                          "series_instance_uid", "sop_class_uid", "sop_instance_uid", "deleted_at"))
    steps = tuple(study.performed_steps().order_by("pk").values_list("sop_instance_uid", flat=True))
    return dataset.StudyAvailability(study.study_instance_uid, instances, retrieve_ae_titles(study, event),
                                     performed_step_uids=steps, patient=_patient(study), requests=_requests(study))


def notify(study: Study, event: str) -> list[AvailabilityNotification]:
    """One row per enabled subscriber that hears about `event`; nothing when the study has no instance."""
    subscribers = [s for s in IanSubscriber.objects.filter(enabled=True).order_by("pk") if s.wants(event)]
    if not subscribers:
        return []
    facts = availability_of(study, event)
    if not facts.instances:
        return []
    attributes = dataset.notification_dataset(facts).to_json_dict()
    created = []
    for subscriber in subscribers:
        row = AvailabilityNotification.objects.create(
            subscriber=subscriber, study=study, event=event, sop_instance_uid=generate_uid(),
            dataset=attributes, instance_count=len(facts.instances))
        enqueue_on_commit(row.pk)
        created.append(row)
    log.info("IAN (%s) of study %s queued for %s", event, study.study_instance_uid,
             ", ".join(s.name for s in subscribers))
    return created


def retry(pk: int) -> bool:
    with transaction.atomic():
        changed = AvailabilityNotification.objects.filter(
            pk=pk, state__in=[WorkState.FAILED, WorkState.GAVE_UP, WorkState.PENDING]).update(
            state=WorkState.PENDING, next_attempt_at=None)
        if changed:
            enqueue_on_commit(pk)
    return bool(changed)


def give_up(pk: int) -> bool:
    """Stop trying this row; the rows queued behind it may now go."""
    with transaction.atomic():
        changed = AvailabilityNotification.objects.filter(
            pk=pk, state__in=[WorkState.PENDING, WorkState.FAILED, WorkState.RUNNING]).update(
            state=WorkState.GAVE_UP, next_attempt_at=None)
        if changed:
            following = IAN_NOTIFICATIONS.next_in_lane(AvailabilityNotification.objects.get(pk=pk))
            if following is not None:
                enqueue_on_commit(following.pk)
    return bool(changed)
