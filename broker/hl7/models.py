"""The log of every inbound HL7 message with the ACK it got, and the rules of who may send them."""
import ipaddress

from django.core.exceptions import ValidationError
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
    # Refused because no HL7 sender rule allows its address and MSH-3/MSH-4 (BROKER_HL7_REQUIRE_KNOWN_SENDER).
    sender_refused = models.BooleanField(default=False)
    # The patient ID (PID-3) and accession (IPC-1, else OBR-18) read from the message itself, upper-cased, for
    # every message, refused ones too: the HL7 log's search finds a message by them (broker.hl7.content_keys).
    content_patient_id = models.CharField(max_length=64, blank=True, default="", db_index=True, editable=False)
    content_accession = models.CharField(max_length=64, blank=True, default="", db_index=True, editable=False)

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


def parse_source(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An address or network (CIDR) as written in a sender rule; ValueError says what is wrong."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an address (10.1.2.3) or a network (10.1.2.0/24)") from None


def validate_source(text: str) -> None:
    try:
        parse_source(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class HL7Sender(models.Model):
    """A rule that lets a source address or network, optionally with an MSH-3/MSH-4, send HL7 messages.

    Read only when BROKER_HL7_REQUIRE_KNOWN_SENDER is on: then a message is applied only if a rule allows it."""

    name = models.CharField(max_length=64, unique=True, help_text="e.g. the RIS's name")
    source = models.CharField(max_length=64, validators=[validate_source],
                              help_text="address (10.1.2.3) or network (10.1.2.0/24) the sender connects from; "
                              "0.0.0.0/0 or ::/0 for any")
    sending_application = models.CharField(max_length=200, blank=True, default="",
                                           help_text="MSH-3 the sender must use (the whole field or its first "
                                           "component); empty = any")
    sending_facility = models.CharField(max_length=200, blank=True, default="",
                                        help_text="MSH-4 the sender must use (the whole field or its first "
                                        "component); empty = any")
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "HL7 sender"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def allows(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, application: str, facility: str) -> bool:
        try:
            network = parse_source(self.source)
        except ValueError:
            return False  # a rule that cannot be read allows nobody (the admin form refuses such a value)
        return (address.version == network.version and address in network
                and _hd_matches(self.sending_application, application) and _hd_matches(self.sending_facility, facility))


def _hd_matches(wanted: str, sent: str) -> bool:
    """MSH-3/4 are HD (namespace^universal ID^type): a rule names the whole field or its namespace ID."""
    wanted = wanted.strip()
    return not wanted or sent == wanted or ("^" not in wanted and sent.split("^", 1)[0] == wanted)
