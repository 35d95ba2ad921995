"""Celery tasks of the IAN queue: ids in, rows re-read, claimed with a conditional update, safe to run twice."""
from celery import shared_task

from broker.availability import sending
from broker.availability.models import IAN_NOTIFICATIONS

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name="availability.notify", **IDEMPOTENT)
def notify_availability(notification_id: int):
    outcome = sending.deliver(notification_id)
    if outcome.next_id is not None:
        notify_availability.delay(outcome.next_id)
    if outcome.retry_in is not None:
        notify_availability.apply_async((notification_id,), countdown=outcome.retry_in)


@shared_task(name="availability.sweep", **IDEMPOTENT)
def sweep_availability():
    """Re-enqueue IANs whose task was lost: stuck RUNNING rows, FAILED rows due, PENDING rows never picked up."""
    return IAN_NOTIFICATIONS.sweep(notify_availability.delay)
