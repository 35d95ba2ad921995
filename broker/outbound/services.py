"""Outbound work created from MPPS events, and the operator's retry / give-up actions.

Rows are created inside the MPPS transaction; their tasks are enqueued on commit, and the periodic sweep
re-enqueues whatever a lost task left behind (the database is the source of truth, Redis only carries messages).
"""
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from broker.outbound import hl7_status, tasks
from broker.outbound.models import QUEUES, DeliveryState, MppsDestination, MppsForward, RisEndpoint, RisNotification
from mpps.status_rules import ORDER_STATUS_TO_RIS_EVENT

log = logging.getLogger(__name__)


def enqueue_on_commit(task, pk: int) -> None:
    """Send the task once the rows are committed; a broker outage only delays the work (the sweep finds it)."""
    def send():
        try:
            task.delay(pk)
        except Exception:
            log.exception("could not enqueue %s(%s); the sweep will pick it up", task.name, pk)

    transaction.on_commit(send)


def queue_forwards(performed_step, operation: str, dataset_json: dict) -> list[MppsForward]:
    """One row per enabled destination, next in that destination's queue for this step."""
    created = []
    for destination in MppsDestination.objects.filter(enabled=True).order_by("pk"):
        if destination.ae_title == performed_step.calling_ae:
            continue  # never echo a step back to the PPS Manager it came from (forwarding loops)
        last = MppsForward.objects.filter(performed_step=performed_step, destination=destination).aggregate(
            last=Max("sequence"))["last"] or 0
        forward = MppsForward.objects.create(destination=destination, performed_step=performed_step,
                                             operation=operation, sequence=last + 1, dataset=dataset_json)
        enqueue_on_commit(tasks.forward_mpps, forward.pk)
        created.append(forward)
    return created


def _procedures_of(order):
    procedures = order.requested_procedures.prefetch_related("scheduled_steps").order_by("pk")
    return [(p, list(p.scheduled_steps.order_by("pk"))) for p in procedures]


def queue_notifications(order, performed_step=None) -> list[RisNotification]:
    """Tell each RIS endpoint the order's new status (ORC-5), if it is one the RIS hears about."""
    event = ORDER_STATUS_TO_RIS_EVENT.get(order.status)
    if event is None:
        return []
    created = []
    for endpoint in RisEndpoint.objects.filter(enabled=True).order_by("pk"):
        if not endpoint.applies_to(order):
            continue
        control_id = uuid.uuid4().hex[:20]
        sender = hl7_status.Sender(settings.BROKER_HL7_APPLICATION, settings.BROKER_HL7_FACILITY,
                                   endpoint.receiving_application or order.sending_application,
                                   endpoint.receiving_facility or order.sending_facility)
        kind = hl7_status.message_kind(endpoint.message_format, order.hl7_version)
        message = hl7_status.build(kind, order=order, procedures=_procedures_of(order), order_status=event,
                                   sender=sender, control_id=control_id, now=timezone.now(),
                                   zone=timezone.get_default_timezone())
        notification = RisNotification.objects.create(endpoint=endpoint, order=order, performed_step=performed_step,
                                                      event=event, message=message, control_id=control_id)
        enqueue_on_commit(tasks.notify_ris, notification.pk)
        created.append(notification)
    return created


def _retry(model, pk: int, task) -> bool:
    with transaction.atomic():
        changed = model.objects.filter(pk=pk, state__in=[DeliveryState.FAILED, DeliveryState.GAVE_UP,
                                                         DeliveryState.PENDING]).update(
            state=DeliveryState.PENDING, next_attempt_at=None)
        if changed:
            enqueue_on_commit(task, pk)
    return bool(changed)


def _give_up(model, pk: int, task) -> bool:
    """Stop trying this row; the rows queued behind it may now go."""
    with transaction.atomic():
        changed = model.objects.filter(pk=pk, state__in=[DeliveryState.PENDING, DeliveryState.FAILED,
                                                         DeliveryState.RUNNING]).update(
            state=DeliveryState.GAVE_UP, next_attempt_at=None)
        if changed:
            following = QUEUES[model].next_in_lane(model.objects.get(pk=pk))
            if following is not None:
                enqueue_on_commit(task, following.pk)
    return bool(changed)


def retry_notification(notification_id: int) -> bool:
    return _retry(RisNotification, notification_id, tasks.notify_ris)


def give_up_notification(notification_id: int) -> bool:
    return _give_up(RisNotification, notification_id, tasks.notify_ris)


def retry_forward(forward_id: int) -> bool:
    return _retry(MppsForward, forward_id, tasks.forward_mpps)


def give_up_forward(forward_id: int) -> bool:
    return _give_up(MppsForward, forward_id, tasks.forward_mpps)
