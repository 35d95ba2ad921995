"""Instance Availability Notification (PS3.4 Annex R): the subscribers told when a study's instances are available,
and each notification as durable queued work (broker.core.work_queue), sent and retried like the MPPS forwards."""
from django.db import models

from broker.core.work_queue import QueuedWork, WorkQueue
from broker.outbound.models import PeerTLS


class Event(models.TextChoices):
    """What made the study's instances available, as far as a subscriber cares."""

    COMPLETE = "COMPLETE", "Study complete"
    ROUTED = "ROUTED", "Study routed to all its destinations"


class IanSubscriber(PeerTLS):
    """An IAN SCP (the RIS's DICOM side, a reporting system) and which events it hears about."""

    class Trigger(models.TextChoices):
        COMPLETE = "COMPLETE", "On complete"
        ROUTED = "ROUTED", "On routed"
        BOTH = "BOTH", "On complete and on routed"

    name = models.CharField(max_length=64, unique=True)
    ae_title = models.CharField(max_length=16)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.COMPLETE)
    description = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "IAN subscriber"

    def __str__(self):
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"

    def wants(self, event: str) -> bool:
        return self.trigger == self.Trigger.BOTH or self.trigger == event


class AvailabilityNotification(QueuedWork):
    """One N-CREATE of an Instance Availability Notification to one subscriber, with the dataset as built when
    the event happened (a retry sends the same SOP Instance UID and dataset)."""

    subscriber = models.ForeignKey(IanSubscriber, on_delete=models.PROTECT, related_name="notifications")
    study = models.ForeignKey("routing.Study", on_delete=models.CASCADE, related_name="availability_notifications")
    event = models.CharField(max_length=8, choices=Event.choices)
    sop_instance_uid = models.CharField(max_length=64, unique=True)  # the IAN's own, sent as Affected SOP Instance UID
    dataset = models.JSONField(default=dict)  # what is sent, pydicom JSON
    instance_count = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)  # the subscriber's DIMSE status
    response_comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "instance availability notification"
        indexes = [models.Index(fields=["subscriber", "study", "id"], name="ian_queue_idx")]

    def __str__(self):
        return f"IAN {self.get_event_display().lower()} for {self.study_id} → {self.subscriber}"


# A lane per subscriber and study: the "routed" notification never overtakes the "complete" one.
IAN_NOTIFICATIONS = WorkQueue(
    model=AvailabilityNotification, lane=("subscriber_id", "study_id"), lane_order="pk",
    name="instance availability notifications",
    backoff_setting="BROKER_OUTBOUND_RETRY_BASE_SECONDS",
    backoff_max_setting="BROKER_OUTBOUND_RETRY_MAX_SECONDS",
    lost_after_setting="BROKER_OUTBOUND_STUCK_SECONDS",
    pending_grace_setting="BROKER_OUTBOUND_PENDING_GRACE_SECONDS",
)
