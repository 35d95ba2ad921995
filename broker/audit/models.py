"""AuditEvent (append-only, hash-chained), the one chain-head row that keeps the chain linear, and the syslog outbox."""
from django.db import models

from broker.audit.chain import HASHED_FIELDS
from broker.core.work_queue import QueuedWork, WorkQueue


class AppendOnly(Exception):
    """An audit event is never changed or deleted, by anyone."""


class AuditEvent(models.Model):
    class Outcome(models.IntegerChoices):
        # PS3.15 A.5 EventOutcomeIndicator
        SUCCESS = 0, "success"
        MINOR_FAILURE = 4, "minor failure"
        SERIOUS_FAILURE = 8, "serious failure"
        MAJOR_FAILURE = 12, "major failure"

    time = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=40, db_index=True)  # broker.audit.events: the catalogue
    outcome = models.PositiveSmallIntegerField(choices=Outcome.choices, default=Outcome.SUCCESS)
    # Who: a person (user name), or a DICOM / HL7 peer (AE title or sending application, and its address),
    # or the broker itself (all empty but actor_address may name the host).
    actor_user = models.CharField(max_length=150, blank=True, db_index=True)
    actor_ae = models.CharField(max_length=200, blank=True, db_index=True)
    actor_address = models.CharField(max_length=100, blank=True)
    patient_ids = models.JSONField(default=list, blank=True)  # Patient IDs touched, as the department knows them
    object_refs = models.JSONField(default=list, blank=True)  # [{"type": "order", "id": ..., ...}]
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "time"])]

    def __str__(self):
        return f"#{self.pk} {self.time:%Y-%m-%d %H:%M:%S} {self.kind}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not kwargs.get("force_insert"):
            raise AppendOnly("audit events are written once, by broker.audit.trail.record, and never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit events are never deleted")

    def hashed_values(self) -> dict:
        return {name: getattr(self, name) for name in HASHED_FIELDS}


class ChainHead(models.Model):
    """One row (pk 1): the hash of the newest event. Locked (SELECT … FOR UPDATE) by every writer, so events
    join the chain one after the other even from many processes."""

    hash = models.CharField(max_length=64)
    last_event_id = models.BigIntegerField(null=True)
    # Set by the retention purge (broker.audit.trail.forget): the last event it deleted and its hash, where the
    # kept chain starts; `audit verify` checks the first kept event against it instead of the genesis hash.
    purged_through_id = models.BigIntegerField(null=True)
    purged_through_hash = models.CharField(max_length=64, blank=True, default="")

    def __str__(self):
        return f"chain head at event #{self.last_event_id}"


class AuditForward(QueuedWork):
    """One event waiting to reach the audit repository (BROKER_AUDIT_SYSLOG): written with the event, in its
    transaction, and sent by the worker in event order (one lane per target), retried while the repository is down."""

    event = models.OneToOneField(AuditEvent, on_delete=models.CASCADE, related_name="forward")
    target = models.CharField(max_length=300)  # BROKER_AUDIT_SYSLOG when the event was written: the lane

    class Meta:
        verbose_name = "audit forward"
        indexes = [models.Index(fields=["target", "state"])]

    def __str__(self):
        return f"event #{self.event_id} → {self.target}"


# The one durable work queue (broker.core.work_queue) with the outbound queues' backoff and sweep settings.
AUDIT_FORWARDS = WorkQueue(model=AuditForward, lane=("target",), lane_order="pk", name="audit forwards",
                           backoff_setting="BROKER_OUTBOUND_RETRY_BASE_SECONDS",
                           backoff_max_setting="BROKER_OUTBOUND_RETRY_MAX_SECONDS",
                           lost_after_setting="BROKER_OUTBOUND_STUCK_SECONDS",
                           pending_grace_setting="BROKER_OUTBOUND_PENDING_GRACE_SECONDS")
