"""The log of every inbound HL7 message with the ACK it got."""
from django.db import models


class HL7Message(models.Model):
    class Outcome(models.TextChoices):
        ACCEPTED = "AA", "Accepted (AA)"
        ERROR = "AE", "Application error (AE)"
        REJECTED = "AR", "Rejected (AR)"

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    peer = models.CharField(max_length=100, blank=True, default="")  # "host:port" of the sender
    sending_application = models.CharField(max_length=200, blank=True, default="")
    sending_facility = models.CharField(max_length=200, blank=True, default="")
    control_id = models.CharField(max_length=200, blank=True, default="")
    message_type = models.CharField(max_length=32, blank=True, default="")  # e.g. ORM^O01
    order_control = models.CharField(max_length=8, blank=True, default="")  # ORC-1 of the first ORC
    version = models.CharField(max_length=16, blank=True, default="")
    charset = models.CharField(max_length=32, blank=True, default="")
    raw = models.BinaryField()  # the bytes between the MLLP frame markers, exactly as received
    outcome = models.CharField(max_length=2, choices=Outcome.choices, db_index=True)
    error_code = models.CharField(max_length=8, blank=True, default="")  # HL7 table 0357
    error_text = models.TextField(blank=True, default="")
    ack = models.TextField(blank=True, default="")
    processing_ms = models.FloatField(null=True, blank=True)
    patient = models.ForeignKey("worklist.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="hl7_messages")
    order = models.ForeignKey("worklist.ImagingOrder", null=True, blank=True, on_delete=models.SET_NULL, related_name="hl7_messages")
    # Set when staff replayed this message; points at the new log row.
    replayed_as = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replay_of")
    # Where the error is (e.g. "OBR-18"), as sent in ERR.
    error_location = models.CharField(max_length=32, blank=True, default="")
    # Size of what arrived; `raw` holds only an excerpt when the frame was over the size limit or never ended.
    raw_size = models.PositiveBigIntegerField(default=0)
    # Dedupe key of an accepted message (hash of MSH-3, MSH-4, MSH-10 and the content with MSH-7 blanked): unique,
    # so a message is applied once even when the sender repeats it on two connections at the same moment.
    accepted_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    # A repeated message (same sender, MSH-10 and content as an accepted one) points at the original; same ACK.
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates")
    # Same sender and MSH-10 as an accepted message but other content: processed as the new message it is, and
    # listed for staff (a RIS that restarted its counter, or two feeds sharing one application name).
    reuses_control_id_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                             related_name="control_id_reuses")

    class Meta:
        verbose_name = "HL7 message"
        indexes = [
            models.Index(fields=["sending_application", "sending_facility", "control_id"], name="hl7_sender_control_idx"),
            models.Index(fields=["message_type", "outcome"], name="hl7_type_outcome_idx"),
        ]

    def __str__(self):
        return f"{self.message_type} {self.control_id} {self.outcome}"

    def raw_text(self) -> str:
        return bytes(self.raw).decode("utf-8", errors="replace").replace("\r", "\n")

    @property
    def is_excerpt(self) -> bool:
        return self.raw_size > len(bytes(self.raw))
