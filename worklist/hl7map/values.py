"""HL7 data types → Python values: TS/DTM, DT, XPN/XCN names, coded values, length limits."""
import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from broker.core.hl7v2 import dtm
from worklist.hl7map.errors import BadValue, Location, MappingWarning, NonexistentTime, ValueTooLong
from worklist.uids import MAX_UID_LENGTH, uid_problem


@dataclass(frozen=True)
class Start:
    """A scheduled start as the RIS sent it: the instant, whether only its date is known, and a warning when
    the wall-clock time was ambiguous."""

    moment: datetime
    date_only: bool = False
    warning: MappingWarning | None = None


def parse_ts(value: str, tz: tzinfo, location: Location) -> datetime | None:
    """HL7 TS/DTM → aware datetime. A value without an offset is wall-clock time in `tz`."""
    parsed = _dtm(value, tz, location)
    return parsed.moment if parsed else None


def parse_start(value: str, tz: tzinfo, location: Location) -> Start | None:
    """A scheduled start (TQ1-7, ORC-7.4, OBR-27.4, OBR-36): a date alone stays a date; a time the zone skips is
    refused (NonexistentTime), one it repeats is read as the first occurrence with a warning."""
    parsed = _dtm(value, tz, location)
    if parsed is None:
        return None
    if parsed.date_only:
        if parsed.precision != dtm.DAY:
            raise BadValue(f"{value.strip()!r} in {location} names no day; a scheduled start needs at least "
                           f"YYYYMMDD", location)
        return Start(parsed.moment, date_only=True)
    warning = None
    if parsed.ambiguous:
        other = parsed.moment.replace(tzinfo=None).replace(tzinfo=tz, fold=1)
        warning = MappingWarning(
            f"Scheduled start {value.strip()} ({location}) read as its first occurrence, "
            f"{dtm.format_dtm(parsed.moment, tz)}: it happens twice in {tz} (the clocks go back that night). Send "
            f"it with its UTC offset ({dtm.format_dtm(other, tz)} for the second one) if that is not what was meant",
            location)
    return Start(parsed.moment, warning=warning)


def _dtm(value: str, tz: tzinfo, location: Location) -> dtm.DTM | None:
    try:
        return dtm.parse_dtm(value, tz)
    except dtm.NotDTM as exc:
        raise BadValue(f"{exc} in {location}", location) from exc
    except dtm.NonexistentLocalTime as exc:
        before, after = exc.offsets
        raise NonexistentTime(
            f"Scheduled start {value.strip()} ({location}) does not exist in {tz}: the clocks go forward over it "
            f"on {exc.wall:%Y-%m-%d} (UTC{before} to UTC{after}). Correct the time in the RIS, or send it with "
            f"its UTC offset ({value.strip()}{before} or {value.strip()}{after}), and resend the order",
            location) from exc


def parse_date(value: str, location: Location) -> date | None:
    """HL7 DT (or TS of which only the date counts, e.g. PID-7 with a birth time)."""
    value = value.strip()
    if not value:
        return None
    digits = value[:8]
    if not re.fullmatch(r"\d{8}", digits) or (len(value) > 8 and not dtm.is_dtm(value)):
        raise BadValue(f"{value!r} in {location} is not an HL7 date (YYYYMMDD)", location)
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise BadValue(f"{value!r} in {location} is not a valid date: {exc}", location) from exc


def person_name(components: list[str]) -> str:
    """XPN components (family, given, middle, suffix, prefix, degree) → DICOM PN family^given^middle^prefix^suffix."""
    c = (list(components) + [""] * 6)[:6]
    family, given, middle, suffix, prefix, degree = (part.strip() for part in c)
    if degree:
        suffix = f"{suffix} {degree}".strip()
    pn = "^".join([family, given, middle, prefix, suffix]).rstrip("^")
    return _pn_safe(pn)[:64]


def xcn_name(components: list[str]) -> str:
    """XCN (ID^family^given^middle^suffix^prefix^degree) → DICOM PN; the ID is dropped."""
    return person_name(components[1:7]) if len(components) > 1 else ""


def _pn_safe(text: str) -> str:
    # A DICOM value must not contain '\' (value delimiter) or '=' (component-group delimiter) from the source.
    return text.replace("\\", " ").replace("=", " ")


def dicom_text(text: str, limit: int = 64) -> str:
    """Free text for an LO/SH-like field: no backslash, at most `limit` characters."""
    return text.replace("\\", "/").replace("\n", " ").strip()[:limit]


def identifier(value: str, limit: int, location: Location, what: str) -> str:
    """An identifier that must fit its DICOM VR: too long is an error, never silently cut."""
    value = value.strip()
    if len(value) > limit:
        raise ValueTooLong(f"{what} {value!r} in {location} is {len(value)} characters; at most {limit} fit", location)
    if "\\" in value:
        raise BadValue(f"{what} {value!r} in {location} contains a backslash", location)
    return value


SEX = {"M": "M", "F": "F", "O": "O", "A": "O", "N": "", "U": "", "": ""}

# ORC-7.6 / TQ1-9 priority (table 0027) → DICOM Requested Procedure Priority.
PRIORITY = {"S": "STAT", "A": "HIGH", "R": "ROUTINE", "P": "HIGH", "C": "HIGH", "T": "MEDIUM", "": "ROUTINE"}


def priority(code: str) -> str:
    return PRIORITY.get(code.strip().upper(), "ROUTINE")


def uid(value: str, location: Location) -> str:
    """A UID as the one rule (worklist.uids, PS3.5 9.1) has it; '' when none is sent."""
    value = value.strip()
    if not value:
        return ""
    problem = uid_problem(value)
    if problem is None:
        return value
    if len(value) > MAX_UID_LENGTH:
        raise ValueTooLong(f"UID {value[:70]!r}... in {location} {problem}", location)
    raise BadValue(f"UID {value!r} in {location} {problem}; not a DICOM UID", location)
