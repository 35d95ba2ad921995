"""Storage commitment requests: accepted and kept, waited on while their instances arrive, decided from storage.

Called by the DICOM listener (accept, record_refusal, is_ready, decide) and the report delivery (decide). Each
function takes ids or plain values and re-reads the database.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pynetdicom import AllStoragePresentationContexts

from broker.commitment import decision
from broker.commitment.models import COMMITMENT_REPORTS, RefusedCommitmentRequest, StorageCommitment
from broker.commitment.request import CommitmentRequest
from broker.core.work_queue import WorkState
from broker.routing.completion import complete_by_commitment
from broker.routing.storage import stored_classes

log = logging.getLogger(__name__)

STORAGE_CLASSES = frozenset(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def accept(request: CommitmentRequest, *, calling_ae: str, peer: str = "") -> StorageCommitment:
    """The request kept as a pending report. The same request again while its report is not sent is the same
    row (a modality that re-sends after a lost N-ACTION response); a Transaction UID this AE used before for
    another request is kept too, and reported failed with 0x0131."""
    references = [list(pair) for pair in request.references]
    with transaction.atomic():
        earlier = (StorageCommitment.objects.select_for_update()
                   .filter(calling_ae=calling_ae, transaction_uid=request.transaction_uid).order_by("pk").first())
        if earlier is not None and earlier.references == references and earlier.state in (
                WorkState.PENDING, WorkState.RUNNING, WorkState.FAILED):
            log.info("storage commitment %s from %s received again: answered once", request.transaction_uid, calling_ae)
            return earlier
        row = StorageCommitment.objects.create(
            transaction_uid=request.transaction_uid, calling_ae=calling_ae, peer=peer[:100], references=references,
            answer_by=timezone.now() + timedelta(seconds=settings.BROKER_COMMITMENT_WAIT_SECONDS),
            duplicate_of=earlier)
    log.info("storage commitment %s from %s accepted: %d instances%s", row.transaction_uid, calling_ae,
             len(references), " (duplicate Transaction UID)" if earlier is not None else "")
    return row


def record_refusal(*, calling_ae: str, peer: str, transaction_uid: str, status: int, comment: str) -> None:
    RefusedCommitmentRequest.objects.create(calling_ae=calling_ae[:16], peer=peer[:100],
                                            transaction_uid=transaction_uid[:64], status=status,
                                            error_comment=comment[:200])


def missing_count(row: StorageCommitment) -> int:
    """Referenced instances not stored (yet)."""
    found = stored_classes(instance for _, instance in row.references)
    return sum(1 for _, instance in row.references if instance not in found)


def seconds_until_ready(pk: int) -> float:
    """0 when the report can be decided (every instance stored, a duplicate, or the wait is over), else the
    seconds left of the wait (BROKER_COMMITMENT_WAIT_SECONDS); 0 for a row already decided or gone."""
    row = StorageCommitment.objects.filter(pk=pk).first()
    if row is None or row.decided_at is not None or row.duplicate_of_id is not None:
        return 0.0
    left = (row.answer_by - timezone.now()).total_seconds()
    if left <= 0 or missing_count(row) == 0:
        return 0.0
    return left


def decide(row: StorageCommitment) -> StorageCommitment:
    """Fix the outcome from what is stored now, once: a retry sends the report that was decided first."""
    if row.decided_at is not None:
        return row
    references = [tuple(pair) for pair in row.references]
    found = stored_classes(instance for _, instance in references)
    outcome = decision.decide(references, found, supported_classes=STORAGE_CLASSES,
                              duplicate=row.duplicate_of_id is not None)
    fields = {"decided_at": timezone.now(), "event_type": outcome.event_type,
              "committed": [list(c) for c in outcome.committed], "failed": [list(f) for f in outcome.failed]}
    # Only while the row is still ours: a sweep may have handed it to another worker meanwhile.
    decided_now = COMMITMENT_REPORTS.still_ours(row).filter(decided_at__isnull=True).update(**fields)
    row.refresh_from_db()
    log.info("storage commitment %s from %s decided: %s", row.transaction_uid, row.calling_ae,
             decision.summary(row.committed, row.failed))
    if decided_now:
        try:
            complete_committed_studies(row)
        except Exception:  # the report must still go; the quiet time completes the study instead
            log.exception("storage commitment %s: completing its studies failed", row.transaction_uid)
    return row


def complete_committed_studies(row: StorageCommitment) -> int:
    """Every instance committed: the modality is done with them, so their studies may be complete for routing
    (BROKER_STUDY_COMPLETE_ON_COMMITMENT). A report with failures, or a duplicate request, completes nothing."""
    if not settings.BROKER_STUDY_COMPLETE_ON_COMMITMENT or row.event_type != 1 or row.duplicate_of_id is not None:
        return 0
    return complete_by_commitment(instance for _, instance in row.committed)


def event_information(row: StorageCommitment):
    """(Event Type ID, Event Information) of the decided row's report."""
    return row.event_type, decision.event_information(row.transaction_uid, [tuple(c) for c in row.committed],
                                                      [tuple(f) for f in row.failed])
