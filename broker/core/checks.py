"""The checks a configuration value gets before it is saved, one function per rule: the admin forms and the
management commands both call these, so both refuse the same values with the same words.

Each takes the raw value and returns it cleaned, or raises django's ValidationError saying what is accepted.
"""
import ipaddress
import re

from django.core.exceptions import ValidationError

MAX_PORT = 65535
AE_TITLE_LENGTH = 16  # AE VR, PS3.5 6.2
CS_LENGTH = 16  # CS VR (modality, body part), PS3.5 6.2
_CS_CHARACTERS = re.compile(r"[A-Z0-9 _]+")


def check_port(port: int | None) -> int | None:
    if port is not None and not 0 < port <= MAX_PORT:
        raise ValidationError(f"port {port} is not between 1 and {MAX_PORT}")
    return port


def check_ae_title(title: str) -> str:
    """An AE title as DICOM allows it (PS3.5 6.2 AE): 1 to 16 characters, not all spaces, no backslash or control
    characters; leading and trailing spaces are not significant and are removed. Longer is an error, never cut."""
    title = (title or "").strip()
    if not 0 < len(title) <= AE_TITLE_LENGTH:
        raise ValidationError(f"an AE title has 1 to {AE_TITLE_LENGTH} characters (not counting spaces around it); "
                              f"{title!r} has {len(title)}")
    if "\\" in title or any(not " " <= ch <= "~" for ch in title):
        raise ValidationError(f"an AE title has printable ASCII characters only, without a backslash: {title!r}")
    return title


def check_optional_ae_title(title: str) -> str:
    """An AE title where empty means "any"."""
    return check_ae_title(title) if (title or "").strip() else ""


def split_list(text: str) -> list[str]:
    """ "CT01, CT02\\nMR01" → ["CT01", "CT02", "MR01"]: commas, new lines or backslashes separate the values."""
    return [value.strip() for value in re.split(r"[,\n\\]", text or "") if value.strip()]


def check_ae_titles(text: str) -> list[str]:
    """A list of AE titles, each checked; the error names the one refused."""
    return [check_ae_title(title) for title in split_list(text)]


def check_code_string(value: str, what: str = "value") -> str:
    """A DICOM code string (CS: modality "CT", body part "CHEST"): upper-case letters, digits, space and
    underscore, at most 16 characters. Lower case is upper-cased, since that is what the modality sends."""
    value = (value or "").strip().upper()
    if value and (len(value) > CS_LENGTH or not _CS_CHARACTERS.fullmatch(value)):
        raise ValidationError(f"a {what} is a DICOM code string: up to {CS_LENGTH} letters A–Z, digits, spaces "
                              f"or underscores; {value!r} is not one")
    return value


def check_regex(pattern: str) -> str:
    """A regular expression (Python's syntax, searched anywhere in the value); a broken one is refused."""
    try:
        re.compile(pattern or "")
    except re.error as exc:
        raise ValidationError(f"not a regular expression: {exc}") from exc
    return pattern or ""


def check_positive(number, what: str):
    if number is not None and number <= 0:
        raise ValidationError(f"{what} must be above 0, not {number:g}")
    return number


def check_network(text: str) -> str:
    """An address (10.1.2.3) or network (10.1.2.0/24, IPv6 too); empty = any."""
    text = (text or "").strip()
    if text:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError(f"{text!r} is not an address (10.1.2.3) or a network (10.1.2.0/24)") from None
    return text
