"""Outbound work kept in the database (the source of truth): RIS status messages and MPPS forwards."""
from django.db import models

from broker.core.work_queue import QueuedWork, WorkQueue, WorkState

DeliveryState = WorkState  # the states every queued outbound row goes through


class PeerTLS(models.Model):
    """TLS towards the peer, as a routing Destination has it (broker.core.tls.client_context): its certificate
    verified against tls_ca_file (the system's CAs when empty) and the host checked; a client certificate when set."""

    use_tls = models.BooleanField(default=False)
    tls_ca_file = models.CharField(max_length=500, blank=True, default="")
    tls_cert_file = models.CharField(max_length=500, blank=True, default="")
    tls_key_file = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        abstract = True


class RisEndpoint(PeerTLS):
    class MessageFormat(models.TextChoices):
        AUTO = "AUTO", "As the order came (ORM for v2.3/2.4, OMI for v2.5+)"
        ORM = "ORM", "ORM^O01"
        OMI = "OMI", "OMI^O23"

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    message_format = models.CharField(max_length=4, choices=MessageFormat.choices, default=MessageFormat.AUTO)
    receiving_application = models.CharField(max_length=64, blank=True, default="")
    receiving_facility = models.CharField(max_length=64, blank=True, default="")
    timeout_seconds = models.FloatField(default=10)
    # Tell this RIS only about orders it placed (ImagingOrder.sending_application); empty = every order.
    match_sending_application = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = "RIS endpoint"

    def __str__(self):
        return f"{self.name} ({self.host}:{self.port})"

    def applies_to(self, order) -> bool:
        return not self.match_sending_application or self.match_sending_application == order.sending_application


class RisNotification(QueuedWork):
    class Event(models.TextChoices):
        IN_PROGRESS = "IP", "In progress"
        COMPLETED = "CM", "Completed"
        DISCONTINUED = "DC", "Discontinued"
        SCHEDULED = "SC", "Scheduled again"  # the modality reported the wrong worklist entry (110514)

    endpoint = models.ForeignKey(RisEndpoint, on_delete=models.PROTECT, related_name="notifications")
    order = models.ForeignKey("worklist.ImagingOrder", on_delete=models.CASCADE, related_name="ris_notifications")
    performed_step = models.ForeignKey("mpps.PerformedProcedureStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="ris_notifications")
    event = models.CharField(max_length=2, choices=Event.choices)
    message = models.TextField()  # the HL7 message as sent (segments joined by \r)
    control_id = models.CharField(max_length=64, blank=True, default="")
    ack = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "RIS notification"
        indexes = [models.Index(fields=["endpoint", "order", "id"], name="ris_notification_queue_idx")]

    def __str__(self):
        return f"{self.event} for {self.order_id} → {self.endpoint}"


class MppsDestination(PeerTLS):
    name = models.CharField(max_length=64, unique=True)
    ae_title = models.CharField(max_length=16)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "MPPS destination"

    def __str__(self):
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class MppsForward(QueuedWork):
    class Operation(models.TextChoices):
        N_CREATE = "N-CREATE", "N-CREATE"
        N_SET = "N-SET", "N-SET"

    destination = models.ForeignKey(MppsDestination, on_delete=models.PROTECT, related_name="forwards")
    performed_step = models.ForeignKey("mpps.PerformedProcedureStep", on_delete=models.CASCADE, related_name="forwards")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    sequence = models.PositiveIntegerField()  # order per (step, destination): an N-SET never overtakes its N-CREATE
    dataset = models.JSONField(default=dict)  # what is sent, pydicom JSON
    response_status = models.PositiveIntegerField(null=True, blank=True)  # the destination's DIMSE status
    response_comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "MPPS forward"
        constraints = [
            models.UniqueConstraint(fields=["performed_step", "destination", "sequence"], name="unique_forward_sequence"),
        ]

    def __str__(self):
        return f"{self.operation} #{self.sequence} → {self.destination}"


# Both kinds as work queues (broker.core.work_queue), each with lanes: a row is sent only when every earlier row
# of its lane is SENT or GAVE_UP, so an N-SET never overtakes its N-CREATE and a CM never overtakes its IP.
_OUTBOUND_SETTINGS = {
    "backoff_setting": "BROKER_OUTBOUND_RETRY_BASE_SECONDS",
    "backoff_max_setting": "BROKER_OUTBOUND_RETRY_MAX_SECONDS",
    "lost_after_setting": "BROKER_OUTBOUND_STUCK_SECONDS",
    "pending_grace_setting": "BROKER_OUTBOUND_PENDING_GRACE_SECONDS",
}
MPPS_FORWARDS = WorkQueue(model=MppsForward, lane=("performed_step_id", "destination_id"),
                          lane_order="sequence", name="MPPS forwards", **_OUTBOUND_SETTINGS)
RIS_NOTIFICATIONS = WorkQueue(model=RisNotification, lane=("endpoint_id", "order_id"),
                              lane_order="pk", name="RIS notifications", **_OUTBOUND_SETTINGS)
QUEUES = {MppsForward: MPPS_FORWARDS, RisNotification: RIS_NOTIFICATIONS}
