"""HL7 v2.5 DTM (and v2.3.1 TS component 1): `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`, both ways.

Pure. `format_dtm` is the one way the broker writes an HL7 time: the department's wall-clock time with its
UTC offset (`20261025023000+0200`), or a date alone. `parse_dtm` reads one: without an offset the value is
wall-clock time in the given zone, with one it is taken as sent; a wall-clock time the zone skips (the
spring DST gap) is refused, one it repeats (the autumn overlap) is read as its first occurrence and flagged.
"""
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

_DTM = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})?(?P<d>\d{2})?(?P<h>\d{2})?(?P<mi>\d{2})?(?P<s>\d{2})?"
    r"(?:\.(?P<f>\d{1,4}))?(?P<tz>[+-]\d{4})?$"
)
# How far a value goes, coarsest first (HL7 v2.5 2.A.22: the precision is the number of digits sent).
YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, FRACTION = "year", "month", "day", "hour", "minute", "second", "fraction"
_DATE_PRECISIONS = (YEAR, MONTH, DAY)


class NotDTM(ValueError):
    """Not in the DTM form, an impossible date or time, or an impossible UTC offset."""


class NonexistentLocalTime(ValueError):
    """A wall-clock time without an offset that the zone skips (clocks go forward over it)."""

    def __init__(self, text: str, wall: datetime, zone: tzinfo):
        self.wall, self.zone = wall, zone
        before = wall.replace(tzinfo=zone, fold=0).utcoffset()
        after = wall.replace(tzinfo=zone, fold=1).utcoffset()
        self.offsets = (offset_text(min(before, after)), offset_text(max(before, after)))
        super().__init__(f"{text} does not exist in {zone}: the clocks skip it on {wall:%Y-%m-%d}")


@dataclass(frozen=True)
class DTM:
    moment: datetime  # aware; for a date-only value, the start of that day in the zone it was read in
    precision: str  # YEAR ... FRACTION
    offset_sent: bool  # the value carried +/-ZZZZ
    ambiguous: bool = False  # wall-clock time the zone repeats, read as its first occurrence (fold=0)

    @property
    def date_only(self) -> bool:
        return self.precision in _DATE_PRECISIONS

    @property
    def date(self) -> date:
        return self.moment.date()


def parse_dtm(text: str, zone: tzinfo) -> DTM | None:
    """`text` → DTM, None for an empty value. Raises NotDTM or NonexistentLocalTime (says why, not where)."""
    text = text.strip()
    if not text:
        return None
    match = _DTM.match(text)
    if not match:
        raise NotDTM(f"{text!r} is not an HL7 date/time (YYYYMMDD[HHMM[SS[.SSSS]]][+/-ZZZZ])")
    g = match.groupdict()
    fraction = g["f"] or ""
    try:
        wall = datetime(int(g["y"]), int(g["mo"] or 1), int(g["d"] or 1), int(g["h"] or 0), int(g["mi"] or 0),
                        int(g["s"] or 0), int(fraction.ljust(6, "0")) if fraction else 0)
    except ValueError as exc:
        raise NotDTM(f"{text!r} is not a valid date/time: {exc}") from exc
    precision = _precision(g)
    if g["tz"]:
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][3:5])
        if hours > 14 or minutes > 59:
            raise NotDTM(f"{text!r} has an impossible UTC offset {g['tz']}")
        if precision in _DATE_PRECISIONS:  # a date is a date wherever it was written: no instant to convert
            return DTM(_start_of_day(wall, zone), precision, offset_sent=True)
        sent = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return DTM(wall.replace(tzinfo=sent), precision, offset_sent=True)
    if precision in _DATE_PRECISIONS:
        return DTM(_start_of_day(wall, zone), precision, offset_sent=False)
    if _skipped(wall, zone):
        raise NonexistentLocalTime(text, wall, zone)
    return DTM(_fixed(wall, zone), precision, offset_sent=False, ambiguous=_repeated(wall, zone))


def is_dtm(text: str) -> bool:
    """In the DTM form (digits and offset where they belong); whether the date exists is parse_dtm's to say."""
    return _DTM.match(text.strip()) is not None


def format_dtm(value: datetime | date, zone: tzinfo | None) -> str:
    """A datetime as wall-clock time in `zone` with its UTC offset, to the second (`20260329030000+0200`);
    a date (a `date`, not a datetime; `zone` unused) as `YYYYMMDD`. A naive datetime is refused: its zone
    would be a guess."""
    if not isinstance(value, datetime):
        return f"{value.year:04d}{value.month:02d}{value.day:02d}"
    if value.utcoffset() is None:
        raise ValueError(f"{value!r} has no time zone; HL7 times are written from aware datetimes only")
    local = value.astimezone(zone)
    return (f"{local.year:04d}{local.month:02d}{local.day:02d}{local.hour:02d}{local.minute:02d}{local.second:02d}"
            f"{offset_text(local.utcoffset())}")


def offset_text(offset: timedelta) -> str:
    """+HHMM / -HHMM (HL7 and DICOM write the offset alike)."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _precision(g: dict) -> str:
    for name, group in ((FRACTION, "f"), (SECOND, "s"), (MINUTE, "mi"), (HOUR, "h"), (DAY, "d"), (MONTH, "mo")):
        if g[group]:
            return name
    return YEAR


def _skipped(wall: datetime, zone: tzinfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall


def _repeated(wall: datetime, zone: tzinfo) -> bool:
    return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()


def _fixed(wall: datetime, zone: tzinfo) -> datetime:
    # The offset in effect, fixed: an ambiguous time in a zone with folds never equals another zone's instant
    # (PEP 495), a fixed offset does, and it is what the value means.
    return wall.replace(tzinfo=timezone(wall.replace(tzinfo=zone, fold=0).utcoffset()))


def _start_of_day(wall: datetime, zone: tzinfo) -> datetime:
    # A zone may skip midnight itself (e.g. America/Havana): then the day starts at the first instant it has.
    if _skipped(wall, zone):
        first = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
        return _fixed(first.replace(tzinfo=None), zone)
    return _fixed(wall, zone)
