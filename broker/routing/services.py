"""Operator actions on routing (the dashboard and the command call these)."""
from django.db import transaction
from django.utils import timezone

from broker.routing import completion, jobs
from broker.routing.models import RoutingJob, Study


def retry_job(job_id: int) -> RoutingJob:
    """Start the job again from a fresh attempt count; confirmed instances are not sent again."""
    with transaction.atomic():
        job = RoutingJob.objects.select_for_update().get(pk=job_id)
        if job.state != RoutingJob.State.RUNNING:
            job.state = RoutingJob.State.WAITING
            job.attempts = 0
            job.next_attempt_at = None
            job.finished_at = None
            job.save(update_fields=["state", "attempts", "next_attempt_at", "finished_at", "updated_at"])
            jobs.enqueue(job.id)
    return job


def give_up_job(job_id: int) -> RoutingJob:
    """Stop retrying; the job waits for an operator (retry_job starts it again)."""
    with transaction.atomic():
        job = RoutingJob.objects.select_for_update().get(pk=job_id)
        if job.state != RoutingJob.State.DONE:
            job.state = RoutingJob.State.GAVE_UP
            job.next_attempt_at = None
            job.last_error = (job.last_error + "\n" if job.last_error else "") + f"given up by an operator at {timezone.now():%Y-%m-%d %H:%M:%S}"
            job.save(update_fields=["state", "next_attempt_at", "last_error", "updated_at"])
    return job


def mark_study_complete(study_id: int) -> Study:
    """Staff say the study is complete: route it now (reason OPERATOR)."""
    return completion.mark_complete_by_operator(study_id)


def release_study(study_id: int) -> list[RoutingJob]:
    """Staff checked a held study (see Study.held_reason): route it now by the rules."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if study.state != Study.State.COMPLETE:
            completion.mark_complete_by_operator(study_id)
            study.refresh_from_db()
        return jobs.create_jobs(study, release=True)
