"""HL7 data types → Python values: TS/DTM, DT, XPN/XCN names, coded values, length limits."""
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from worklist.hl7map.errors import BadValue, Location, ValueTooLong
from worklist.uids import MAX_UID_LENGTH, uid_problem

_TS = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,4}))?(?P<tz>[+-]\d{4})?$"
)


def parse_ts(value: str, tz: ZoneInfo, location: Location) -> datetime | None:
    """HL7 TS/DTM → aware datetime. A value without an offset is wall-clock time in `tz`."""
    value = value.strip()
    if not value:
        return None
    match = _TS.match(value)
    if not match:
        raise BadValue(f"{value!r} in {location} is not an HL7 date/time (YYYYMMDDHHMMSS[+ZZZZ])", location)
    g = match.groupdict()
    try:
        fraction = g["f"] or ""
        naive = datetime(
            int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), int(g["h"] or 0), int(g["mi"] or 0),
            int(g["s"] or 0), int(fraction.ljust(6, "0")) if fraction else 0,
        )
    except ValueError as exc:
        raise BadValue(f"{value!r} in {location} is not a valid date/time: {exc}", location) from exc
    if g["tz"]:
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][3:5])
        if hours > 14 or minutes > 59:
            raise BadValue(f"{value!r} in {location} has an impossible UTC offset", location)
        return naive.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    # fold=0: an ambiguous wall-clock time in the autumn DST switch is read as the first occurrence.
    return naive.replace(tzinfo=tz)


def parse_date(value: str, location: Location) -> date | None:
    """HL7 DT (or TS of which only the date counts, e.g. PID-7 with a birth time)."""
    value = value.strip()
    if not value:
        return None
    digits = value[:8]
    if not re.fullmatch(r"\d{8}", digits) or (len(value) > 8 and not _TS.match(value)):
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
