"""One attempt of a routing job: claim it, send (or move) the study, then DONE, FAILED with a backoff, or GAVE_UP.

Called by the Celery task with a job id; everything is re-read from the database, so it is safe to run twice.
"""
import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from broker.routing import jobs, moving, senders, sending
from broker.routing.associations import DeliveryError, PermanentDeliveryError
from broker.routing.models import Destination, RoutingJob, RoutingRule, StoredInstance, Study

log = logging.getLogger(__name__)


# --- claiming --------------------------------------------------------------------------------------

def _stale_before(now):
    return now - timedelta(seconds=settings.BROKER_ROUTING_STALE_SECONDS)


def process_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_gone(claimed_by: str) -> bool:
    """True when the claiming process ran on this host and no longer exists (a killed worker)."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's worker: only the stale timeout can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(job_id: int) -> RoutingJob | None:
    """Make the job RUNNING for this run; None if another run has it, it is finished, or it must wait."""
    now = timezone.now()
    claimable = Q(state__in=[RoutingJob.State.WAITING, RoutingJob.State.FAILED]) | Q(
        state=RoutingJob.State.RUNNING, updated_at__lt=_stale_before(now))
    current = RoutingJob.objects.filter(pk=job_id, state=RoutingJob.State.RUNNING).values_list("claimed_by", flat=True).first()
    if current and owner_is_gone(current):
        claimable |= Q(state=RoutingJob.State.RUNNING, claimed_by=current)  # orphaned by a dead worker
    with transaction.atomic():
        job = RoutingJob.objects.filter(pk=job_id).filter(claimable).select_related("destination").first()
        if job is None:
            return None
        if job.state == RoutingJob.State.FAILED and job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
            return None  # an early duplicate; the scheduled retry will come
        # Lock the destination: the association count below must not race another claim.
        destination = Destination.objects.select_for_update().get(pk=job.destination_id)
        busy = RoutingJob.objects.filter(destination=destination, state=RoutingJob.State.RUNNING,
                                         updated_at__gte=_stale_before(now)).exclude(pk=job_id).count()
        if busy >= max(destination.max_associations, 1):
            jobs.enqueue(job_id, countdown=5)
            return None
        won = RoutingJob.objects.filter(pk=job_id).filter(claimable).update(
            state=RoutingJob.State.RUNNING, attempts=F("attempts") + 1, updated_at=now, claimed_by=process_identity())
        if not won:
            return None
    return RoutingJob.objects.select_related("destination", "study", "rule", "rule__move_source").get(pk=job_id)


# --- the run ---------------------------------------------------------------------------------------

def run_job(job_id: int) -> str:
    """Run one attempt of the job; returns its state afterwards (or 'skipped' if not claimed)."""
    job = claim(job_id)
    if job is None:
        return "skipped"
    try:
        if not job.destination.enabled:
            raise PermanentDeliveryError(f"destination {job.destination.name} is disabled")
        if job.action == RoutingRule.Action.MOVE:
            moving.move_study(job)
            _finish(job)
        else:
            for _ in range(20):  # late instances may keep arriving while we send
                senders.send_pending(job)
                if _finish(job):
                    break
    except PermanentDeliveryError as exc:
        _give_up(job, str(exc))
    except Exception as exc:  # DeliveryError, network and association errors alike: retry later
        if not isinstance(exc, DeliveryError):
            log.exception("routing job %s failed unexpectedly", job_id)
        _failed(job, str(exc) or exc.__class__.__name__)
    return RoutingJob.objects.get(pk=job_id).state


def _finish(job: RoutingJob) -> bool:
    """DONE if nothing is pending; checked under the study lock so a late instance cannot slip between."""
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=job.study_id)
        if job.action == RoutingRule.Action.SEND and sending.pending_instances(job).exists():
            return False
        fields = {"state": RoutingJob.State.DONE, "finished_at": timezone.now(), "last_error": "",
                  "next_attempt_at": None, "updated_at": timezone.now()}
        if job.action == RoutingRule.Action.SEND:
            fields["sent"] = job.delivered.count()
            fields["total"] = StoredInstance.objects.filter(study_id=job.study_id).count()
        RoutingJob.objects.filter(pk=job.pk).update(**fields)
    log.info("routing job %s done: %s to %s", job.pk, job.study, job.destination.name)
    return True


def backoff_seconds(attempts: int) -> float:
    return min(settings.BROKER_ROUTING_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), settings.BROKER_ROUTING_BACKOFF_MAX_SECONDS)


def _failed(job: RoutingJob, error: str) -> None:
    attempts = RoutingJob.objects.get(pk=job.pk).attempts
    if attempts >= settings.BROKER_ROUTING_MAX_ATTEMPTS:
        _give_up(job, f"{error} (after {attempts} attempts)")
        return
    delay = backoff_seconds(attempts)
    next_attempt_at = timezone.now() + timedelta(seconds=delay)
    # Staff read this as it is: what happened, and when the broker tries again (department time).
    error = f"{error[:1900]}; will retry at {timezone.localtime(next_attempt_at):%Y-%m-%d %H:%M:%S}"
    with transaction.atomic():
        RoutingJob.objects.filter(pk=job.pk, state=RoutingJob.State.RUNNING).update(
            state=RoutingJob.State.FAILED, last_error=error, updated_at=timezone.now(),
            next_attempt_at=next_attempt_at)
        jobs.enqueue(job.pk, countdown=delay)
    log.warning("routing job %s attempt %s failed, retry in %.0f s: %s", job.pk, attempts, delay, error)


def _give_up(job: RoutingJob, error: str) -> None:
    RoutingJob.objects.filter(pk=job.pk).update(state=RoutingJob.State.GAVE_UP, last_error=error[:2000],
                                                next_attempt_at=None, updated_at=timezone.now())
    log.error("routing job %s gave up, waiting for an operator: %s", job.pk, error)
