"""Celery tasks of outbound work: ids in, rows re-read, claimed with a conditional update, safe to run twice."""
import logging

from celery import shared_task

from broker.outbound import forwarding, notifying, queueing
from broker.outbound.models import MppsForward, RisNotification

log = logging.getLogger(__name__)

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def _follow_up(task, outcome):
    if outcome.next_id is not None:
        task.delay(outcome.next_id)


def _schedule_retry(task, pk, outcome):
    if outcome.retry_in is not None:
        task.apply_async((pk,), countdown=outcome.retry_in)


@shared_task(name="outbound.forward_mpps", **IDEMPOTENT)
def forward_mpps(forward_id: int):
    outcome = forwarding.deliver(forward_id)
    _follow_up(forward_mpps, outcome)
    _schedule_retry(forward_mpps, forward_id, outcome)


@shared_task(name="outbound.notify_ris", **IDEMPOTENT)
def notify_ris(notification_id: int):
    outcome = notifying.deliver(notification_id)
    _follow_up(notify_ris, outcome)
    _schedule_retry(notify_ris, notification_id, outcome)


@shared_task(name="outbound.sweep", **IDEMPOTENT)
def sweep_outbound():
    """Re-enqueue work whose task was lost: stuck RUNNING rows, FAILED rows due, PENDING rows never picked up."""
    counts = {}
    for model, task in ((MppsForward, forward_mpps), (RisNotification, notify_ris)):
        released = queueing.release_stuck(model)
        due = queueing.due_ids(model)
        for pk in due:
            task.delay(pk)
        counts[model.__name__] = (released, len(due))
        if released or due:
            log.info("sweep: %s stuck %s released, %s re-enqueued", model.__name__, released, len(due))
    return counts
