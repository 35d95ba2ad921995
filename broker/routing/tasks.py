"""Celery tasks of storage and routing: thin wrappers that take ids and call the owning module."""
from celery import shared_task

from broker.routing import completion, delivery, housekeeping, jobs


@shared_task(name=jobs.ROUTE_JOB_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def route_job(job_id: int) -> str:
    """One attempt of a routing job; safe to run twice (the job is claimed, confirmed instances skipped)."""
    return delivery.run_job(job_id)


@shared_task(name="broker.routing.tasks.sweep", ignore_result=True)
def sweep() -> dict:
    """Complete studies that went quiet, and re-enqueue jobs whose task was lost."""
    return {"completed": completion.complete_quiet_studies(), "requeued": jobs.requeue_lost_jobs()}


@shared_task(name="broker.routing.tasks.delete_expired_files", ignore_result=True)
def delete_expired_files() -> dict:
    """The periodic housekeeping of the storage folder: retention, and partial files of killed C-STOREs."""
    return {"deleted": housekeeping.delete_expired_files(), "stale_parts": housekeeping.remove_stale_part_files()}
