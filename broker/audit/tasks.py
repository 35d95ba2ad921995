"""Celery tasks of the syslog outbox: ids in, rows re-read and claimed, safe to run twice (broker.core.work_queue)."""
from celery import shared_task

from broker.audit import forwarding
from broker.audit.models import AUDIT_FORWARDS

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name="audit.forward_event", **IDEMPOTENT)
def forward_event(forward_id: int):
    outcome = forwarding.deliver(forward_id)
    if outcome.next_id is not None:  # the next event of the lane, now free to go
        forward_event.delay(outcome.next_id)
    if outcome.retry_in is not None:
        forward_event.apply_async((forward_id,), countdown=outcome.retry_in)


@shared_task(name="audit.sweep_forwards", **IDEMPOTENT)
def sweep_forwards():
    """Re-enqueue forwards whose task was lost: stuck RUNNING rows, FAILED rows due, PENDING rows never picked up."""
    return AUDIT_FORWARDS.sweep(forward_event.delay)
