"""Celery tasks of the DICOM edge: storage commitment reports sent on a new association, and their sweep."""
from celery import shared_task

from broker.commitment.models import COMMITMENT_REPORTS
from broker.dicom import commitment_reports

IDEMPOTENT = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name=commitment_reports.REPORT_TASK, **IDEMPOTENT)
def report_commitment(commitment_id: int) -> None:
    """One try of a report; safe to run twice (the row is claimed; a sent one is not claimable)."""
    outcome = commitment_reports.deliver(commitment_id)
    if outcome is not None and outcome.retry_in is not None:
        report_commitment.apply_async((commitment_id,), countdown=outcome.retry_in)


@shared_task(name="broker.dicom.tasks.sweep_commitments", **IDEMPOTENT)
def sweep_commitments():
    """Re-enqueue reports whose task was lost: stuck RUNNING rows, FAILED rows due, PENDING rows never picked up."""
    return COMMITMENT_REPORTS.sweep(report_commitment.delay)
