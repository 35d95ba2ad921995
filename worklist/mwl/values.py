"""Parsing of DICOM matching values (PS3.4 C.2.2.2, PS3.5 6.2): what kind of match a value asks for."""
from dataclasses import dataclass
from datetime import date, datetime, time


class InvalidIdentifier(ValueError):
    """The identifier cannot be matched as sent; `keyword` names the offending attribute."""

    def __init__(self, keyword: str, comment: str):
        # The Error Comment is an LO (64 characters): keep the attribute's own name, not its path.
        comment = comment.replace("ScheduledProcedureStepSequence>", "")
        super().__init__(comment)
        self.keyword = keyword
        self.comment = comment


# "" (two quotation marks) asks for entities whose value is empty (C.2.2.2.1, Empty Value Matching).
EMPTY_VALUE = '""'


def as_text(value) -> str:
    """The request value as one string; multi-valued elements are joined with a backslash."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def is_universal(text: str) -> bool:
    """Zero-length or only asterisks: matches everything (C.2.2.2.3, a lone '*' is universal)."""
    stripped = text.strip()
    return stripped == "" or set(stripped) == {"*"}


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


@dataclass(frozen=True)
class Range:
    """An inclusive range; `None` on a side means open (C.2.2.2.5)."""

    low: object = None
    high: object = None


def parse_date(text: str, keyword: str) -> date:
    digits = text.strip().replace(".", "")  # ACR-NEMA "YYYY.MM.DD" still arrives from old modalities
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is not a date (YYYYMMDD)") from None


def parse_time(text: str, keyword: str, *, end: bool = False) -> time:
    """A TM value; with `end=True` the last instant of its precision ("10" → 10:59:59.999999)."""
    raw = text.strip().replace(":", "")
    head, _, fraction = raw.partition(".")
    try:
        if len(head) not in (2, 4, 6) or not head.isdigit() or (fraction and not fraction.isdigit()):
            raise ValueError
        hour = int(head[:2])
        minute = int(head[2:4]) if len(head) >= 4 else (59 if end else 0)
        second = int(head[4:6]) if len(head) >= 6 else (59 if end else 0)
        if fraction:
            micro = int((fraction + "000000")[:6])
            if end and len(fraction) < 6:
                micro += 10 ** (6 - len(fraction)) - 1
        else:
            micro = 999999 if end else 0
        return time(hour, minute, min(second, 59), micro)
    except ValueError:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is not a time (HHMMSS)") from None


def parse_date_range(text: str, keyword: str) -> Range:
    """Single date or range → an inclusive Range of dates."""
    text = text.strip()
    if "-" not in text:
        day = parse_date(text, keyword)
        return Range(day, day)
    if text.count("-") != 1:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is not a date range (YYYYMMDD-YYYYMMDD)")
    low, high = (part.strip() for part in text.split("-"))
    if not low and not high:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is a range without bounds")
    rng = Range(parse_date(low, keyword) if low else None, parse_date(high, keyword) if high else None)
    if rng.low and rng.high and rng.low > rng.high:
        raise InvalidIdentifier(keyword, f"{keyword}: range {text!r} ends before it starts")
    return rng


def parse_time_range(text: str, keyword: str) -> Range:
    """Single time or range → an inclusive Range of times; a single value covers its precision."""
    text = text.strip()
    if "-" not in text:
        return Range(parse_time(text, keyword), parse_time(text, keyword, end=True))
    if text.count("-") != 1:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is not a time range (HHMM-HHMM)")
    low, high = (part.strip() for part in text.split("-"))
    if not low and not high:
        raise InvalidIdentifier(keyword, f"{keyword}: {text!r} is a range without bounds")
    return Range(parse_time(low, keyword) if low else None, parse_time(high, keyword, end=True) if high else None)


def combine_range(dates: Range | None, times: Range | None, tz) -> Range:
    """SPS start date + time as one continuous period (PS3.4 Table K.6-1, note on SPS Start Date/Time)."""
    dates = dates or Range()
    times = times or Range()
    low = high = None
    if dates.low is not None:
        low = _aware(datetime.combine(dates.low, times.low or time.min), tz)
    if dates.high is not None:
        high = _aware(datetime.combine(dates.high, times.high or time.max), tz)
    return Range(low, high)


def _aware(naive: datetime, tz) -> datetime:
    return naive.replace(tzinfo=tz)


def split_uids(text: str) -> list[str]:
    return [uid.strip() for uid in text.split("\\") if uid.strip()]
