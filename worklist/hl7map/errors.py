"""Why a parsed message cannot be applied, with the HL7 location of the offending value.

The HL7 intake maps each class to an ACK code and a table 0357 error code (one table, in
broker.hl7.outcomes); the classes here say only what went wrong and where.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    segment: str = ""
    sequence: int = 1
    field: int = 0
    component: int = 0

    def __str__(self):
        if not self.segment:
            return ""
        text = f"{self.segment}-{self.field}" if self.field else self.segment
        return f"{text}.{self.component}" if self.component else text


class MappingError(Exception):
    def __init__(self, message: str, location: Location = Location()):
        super().__init__(message)
        self.message = message
        self.location = location


class RequiredFieldMissing(MappingError):
    pass


class BadValue(MappingError):
    """A date, number or identifier that is not in its data type's form."""


class NonexistentTime(BadValue):
    """A wall-clock time without an offset that the department's zone skips (the spring DST gap)."""


@dataclass(frozen=True)
class MappingWarning:
    """What the mapping assumed and the sender should know (an ambiguous time read as its first occurrence)."""

    message: str
    location: Location = Location()


class UnknownCode(MappingError):
    """A coded value not in its table (order control, order status, sex...)."""


class ValueTooLong(MappingError):
    pass


class UnknownKey(MappingError):
    """The order or patient a message refers to is not known (or was merged away)."""


class DuplicateKey(MappingError):
    """A new order whose placer order number is already taken."""


class SegmentSequenceError(MappingError):
    """A required segment is absent or out of place."""
