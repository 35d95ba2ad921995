"""Outbound work rows as queues: claim with a conditional update, finish, back off; the database decides.

Both kinds of work (MppsForward, RisNotification) are queues per (target, subject): a row is sent only when
every earlier row of its queue is SENT or GAVE_UP, so an N-SET never overtakes its N-CREATE and a CM never
overtakes its IP.
"""
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from broker.outbound.models import DeliveryState, MppsForward, RisNotification

DONE = (DeliveryState.SENT, DeliveryState.GAVE_UP)
WAITING = (DeliveryState.PENDING, DeliveryState.FAILED)


def backoff_seconds(attempts: int) -> float:
    """Exponential: base, 2×base, 4×base … capped (attempts counts the one that just failed)."""
    base, cap = settings.BROKER_OUTBOUND_RETRY_BASE_SECONDS, settings.BROKER_OUTBOUND_RETRY_MAX_SECONDS
    return min(cap, base * (2 ** max(0, attempts - 1)))


def queue_of(row):
    """The rows sharing `row`'s queue."""
    if isinstance(row, MppsForward):
        return MppsForward.objects.filter(performed_step_id=row.performed_step_id, destination_id=row.destination_id)
    return RisNotification.objects.filter(endpoint_id=row.endpoint_id, order_id=row.order_id)


def _position(row) -> Q:
    return Q(sequence__lt=row.sequence) if isinstance(row, MppsForward) else Q(pk__lt=row.pk)


def waits_for_earlier(row) -> bool:
    return queue_of(row).filter(_position(row)).exclude(state__in=DONE).exists()


def next_in_queue(row):
    later = queue_of(row).exclude(_position(row)).exclude(pk=row.pk).filter(state__in=WAITING)
    return later.order_by("sequence" if isinstance(row, MppsForward) else "pk").first()


def claim(model, pk: int):
    """Take the row for this worker (RUNNING, one more attempt) if it is due and first in its queue; else None."""
    now = timezone.now()
    row = model.objects.filter(pk=pk).first()
    if row is None or row.state not in WAITING or waits_for_earlier(row):
        return None
    due = Q(state=DeliveryState.PENDING) | Q(state=DeliveryState.FAILED, next_attempt_at__lte=now) | Q(
        state=DeliveryState.FAILED, next_attempt_at__isnull=True)
    taken = model.objects.filter(due, pk=pk).update(state=DeliveryState.RUNNING, attempts=F("attempts") + 1,
                                                    claimed_at=now)
    return model.objects.get(pk=pk) if taken else None


def _still_ours(model, row):
    # A sweep may have reset a row this worker held too long; then its late result is not written over the new try.
    return model.objects.filter(pk=row.pk, state=DeliveryState.RUNNING, attempts=row.attempts)


def finish_sent(model, row, **fields) -> bool:
    return bool(_still_ours(model, row).update(state=DeliveryState.SENT, sent_at=timezone.now(),
                                               next_attempt_at=None, **fields))


def finish_failed(model, row, error: str, **fields) -> float | None:
    """Record the failure and when to try again; returns the delay, or None if the row was not ours any more."""
    delay = backoff_seconds(row.attempts)
    updated = _still_ours(model, row).update(state=DeliveryState.FAILED, last_error=error[:2000],
                                             next_attempt_at=timezone.now() + timedelta(seconds=delay), **fields)
    return delay if updated else None


def release_stuck(model) -> int:
    """RUNNING rows whose worker died (SIGKILL, lost machine) go back to FAILED, due now."""
    cutoff = timezone.now() - timedelta(seconds=settings.BROKER_OUTBOUND_STUCK_SECONDS)
    return model.objects.filter(state=DeliveryState.RUNNING, claimed_at__lt=cutoff).update(
        state=DeliveryState.FAILED, next_attempt_at=timezone.now(),
        last_error=f"worker lost: RUNNING for more than {settings.BROKER_OUTBOUND_STUCK_SECONDS:g} s")


def due_ids(model, limit: int = 500) -> list[int]:
    """Waiting rows whose time has come: FAILED past next_attempt_at, PENDING whose task may have been lost."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.BROKER_OUTBOUND_PENDING_GRACE_SECONDS)
    rows = model.objects.filter(
        Q(state=DeliveryState.FAILED, next_attempt_at__lte=now) | Q(state=DeliveryState.FAILED, next_attempt_at__isnull=True)
        | Q(state=DeliveryState.PENDING, created_at__lte=grace) | Q(state=DeliveryState.PENDING, next_attempt_at__isnull=False,
                                                                    next_attempt_at__lte=now))
    return list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
