"""Celery tasks of outbound work: ids in, rows re-read, claimed with a conditional update, safe to run twice."""
from celery import shared_task

from broker.outbound import forwarding, notifying
from broker.outbound.models import MPPS_FORWARDS, RIS_NOTIFICATIONS

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
    return {queue.model.__name__: queue.sweep(task.delay)
            for queue, task in ((MPPS_FORWARDS, forward_mpps), (RIS_NOTIFICATIONS, notify_ris))}
