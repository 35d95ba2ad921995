"""One attempt of a routing job: claim it, send (or move) the study, then DONE, FAILED with a backoff, or GAVE_UP.

Called by the Celery task with a job id; everything is re-read from the database, so it is safe to run twice.
"""
import logging

from django.db import transaction
from django.utils import timezone

from broker.routing import auditing, jobs, moving, senders, sending
from broker.routing.associations import DeliveryError, PermanentDeliveryError
from broker.routing.models import ROUTING_JOBS, Destination, RoutingJob, RoutingRule, StoredInstance, Study
from broker.routing.signals import study_routed

log = logging.getLogger(__name__)


# --- claiming --------------------------------------------------------------------------------------

def _admit(job: RoutingJob) -> bool:
    """Within the claim: refuse (and look again shortly) when the destination has its maximum associations."""
    # Lock the destination: the association count below must not race another claim.
    destination = Destination.objects.select_for_update().get(pk=job.destination_id)
    busy = RoutingJob.objects.filter(destination=destination, state=RoutingJob.State.RUNNING,
                                     updated_at__gte=ROUTING_JOBS.lost_before(timezone.now())).exclude(pk=job.pk).count()
    if busy >= max(destination.max_associations, 1):
        jobs.enqueue(job.pk, countdown=5)
        return False
    return True


def claim(job_id: int) -> RoutingJob | None:
    """Make the job RUNNING for this run; None if another run has it, it is finished, or it must wait."""
    return ROUTING_JOBS.claim(job_id, admit=_admit,
                              select_related=("destination", "study", "rule", "rule__move_source"))


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
        study = Study.objects.select_for_update().get(pk=job.study_id)
        if job.action == RoutingRule.Action.SEND and sending.pending_instances(job).exists():
            return False
        fields = {"last_error": "", "updated_at": timezone.now()}
        if job.action == RoutingRule.Action.SEND:
            fields["sent"] = job.delivered.count()
            fields["total"] = StoredInstance.objects.filter(study_id=job.study_id).count()
        if not ROUTING_JOBS.finish(job, **fields):
            log.warning("routing job %s was released by the sweep while it ran; its late result is dropped", job.pk)
            return True
        auditing.delivered(job, fields.get("sent"), fields.get("total"))
        if not study.routing_jobs.exclude(state=RoutingJob.State.DONE).exists():
            study_routed.send(sender=Study, study=study)  # the last destination confirmed: routed to all
    log.info("routing job %s done: %s to %s", job.pk, job.study, job.destination.name)
    return True


def _failed(job: RoutingJob, error: str) -> None:
    with transaction.atomic():
        delay = ROUTING_JOBS.fail(job, error, updated_at=timezone.now())
        if delay is not None:
            jobs.enqueue(job.pk, countdown=delay)
    if delay is not None:
        log.warning("routing job %s attempt %s failed, retry in %.0f s: %s", job.pk, job.attempts, delay, error)
    else:
        log.error("routing job %s not retried (gave up, or released meanwhile): %s", job.pk, error)


def _give_up(job: RoutingJob, error: str) -> None:
    with transaction.atomic():
        if ROUTING_JOBS.give_up(job, error, updated_at=timezone.now()):
            auditing.delivery_gave_up(job, error)
    log.error("routing job %s gave up, waiting for an operator: %s", job.pk, error)
