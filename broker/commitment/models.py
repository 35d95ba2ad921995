"""A storage commitment request (N-ACTION), its outcome and its report (N-EVENT-REPORT) as one queued row.

The row is the report's durable delivery (broker.core.work_queue): the listener tries the requesting association
first, the worker a new association to the modality's registered address, until the report is acknowledged.
"""
from django.db import models

from broker.core.work_queue import QueuedWork, WorkQueue


class StorageCommitment(QueuedWork):
    class Route(models.TextChoices):
        SAME = "SAME", "On the requesting association"
        NEW = "NEW", "On a new association to the modality"

    transaction_uid = models.CharField(max_length=64, db_index=True)
    calling_ae = models.CharField(max_length=16, db_index=True)
    peer = models.CharField(max_length=100, blank=True, default="")
    # [[SOP Class UID, SOP Instance UID], …] as the N-ACTION listed them (Referenced SOP Sequence).
    references = models.JSONField(default=list)
    # Answered once every referenced instance is stored, or at this time with what is there.
    answer_by = models.DateTimeField()
    # A Transaction UID this AE had already used: every instance is reported failed with 0x0131 (PS3.4 J.3.3.1.1).
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The outcome, fixed when the report is first built (and then sent as it is at every retry).
    decided_at = models.DateTimeField(null=True, blank=True)
    event_type = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 all committed, 2 failures exist
    committed = models.JSONField(default=list, blank=True)  # [[class, instance], …]
    failed = models.JSONField(default=list, blank=True)  # [[class, instance, Failure Reason], …]
    # How the report went: the association it was sent on, and the modality's N-EVENT-REPORT status.
    reported_via = models.CharField(max_length=4, choices=Route.choices, blank=True, default="")
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "storage commitment"
        indexes = [models.Index(fields=["calling_ae", "transaction_uid"], name="commitment_transaction_idx")]

    def __str__(self):
        return f"{self.transaction_uid} from {self.calling_ae} ({self.state})"

    @property
    def instance_count(self) -> int:
        return len(self.references)


class RefusedCommitmentRequest(models.Model):
    """An N-ACTION the broker answered with a failure status (nothing was committed), for staff to see."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    calling_ae = models.CharField(max_length=16, blank=True, default="")
    peer = models.CharField(max_length=100, blank=True, default="")
    transaction_uid = models.CharField(max_length=64, blank=True, default="")
    status = models.PositiveIntegerField()
    error_comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "refused commitment request"

    def __str__(self):
        return f"{self.calling_ae} 0x{self.status:04X}"


# No lanes: each report stands alone. The pending grace is longer than the wait for arriving instances, so the
# sweep does not take a report the listener is still holding for the requesting association.
COMMITMENT_REPORTS = WorkQueue(
    model=StorageCommitment,
    backoff_setting="BROKER_COMMITMENT_RETRY_BASE_SECONDS",
    backoff_max_setting="BROKER_COMMITMENT_RETRY_MAX_SECONDS",
    lost_after_setting="BROKER_COMMITMENT_STUCK_SECONDS",
    pending_grace_setting="BROKER_COMMITMENT_PENDING_GRACE_SECONDS",
    max_attempts_setting="BROKER_COMMITMENT_MAX_ATTEMPTS",
    name="storage commitment reports",
)
