"""The one table that maps what went wrong with a message to its ACK code and table 0357 error code."""
from django.db import OperationalError

from worklist.hl7map import errors as mapping
from worklist.hl7map.errors import Location


class Rejected(Exception):
    """A message the broker cannot process at all (answered AR: resending it unchanged will not help)."""

    def __init__(self, message: str, location: Location | None = None):
        super().__init__(message)
        self.message = message
        self.location = location or Location()


class NotHL7Message(Rejected):
    pass


class UnsupportedMessageType(Rejected):
    pass


class UnsupportedEvent(Rejected):
    pass


class UnsupportedProcessingId(Rejected):
    pass


class UnsupportedVersion(Rejected):
    pass


class UnsupportedCharset(Rejected):
    pass


class UndecodableText(Rejected):
    pass


class UnknownSender(Rejected):
    """No enabled HL7 sender rule allows the message's source address with its MSH-3/MSH-4."""


# First match wins: subclasses before their bases.
ACK_CODES: list[tuple[type[BaseException], str, str]] = [
    (NotHL7Message, "AR", "100"),
    (UnsupportedMessageType, "AR", "200"),
    (UnsupportedEvent, "AR", "201"),
    (UnsupportedProcessingId, "AR", "202"),
    (UnsupportedVersion, "AR", "203"),
    (UnsupportedCharset, "AR", "103"),
    (UndecodableText, "AR", "102"),
    # Table 0357 has no code for "not authorised": 207 with the reason in MSA-3 and ERR-8, and AR, since
    # resending it unchanged from the same place will not help.
    (UnknownSender, "AR", "207"),
    (mapping.SegmentSequenceError, "AR", "100"),
    (mapping.RequiredFieldMissing, "AE", "101"),
    (mapping.NonexistentTime, "AE", "102"),  # a start in the spring DST gap: a data error the RIS must correct
    (mapping.BadValue, "AE", "102"),
    (mapping.UnknownCode, "AE", "103"),
    (mapping.ValueTooLong, "AE", "104"),
    (mapping.UnknownKey, "AE", "204"),
    (mapping.DuplicateKey, "AE", "205"),
    (OperationalError, "AE", "206"),  # locked / busy database: the sender retries an AE
    (Exception, "AE", "207"),
]


def ack_code_for(exc: BaseException) -> tuple[str, str]:
    for exc_type, ack_code, error_code in ACK_CODES:
        if isinstance(exc, exc_type):
            return ack_code, error_code
    return "AE", "207"
