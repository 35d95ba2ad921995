"""DICOM Unique Identifiers: the one rule for what a UID looks like (PS3.5 9.1).

Every UID that reaches a key, a file name, a cache or the database passes `uid_problem` first:
components of digits separated by single dots, at least two components, no leading zero in a
component (a lone "0" is allowed), at most 64 characters. Trailing NUL padding has already been
removed by pydicom; anything else, spaces included, makes the value invalid.
"""
import re

MAX_UID_LENGTH = 64

_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+")


def uid_problem(value: str) -> str | None:
    """Why `value` is not a valid UID, in words staff and a modality's engineer can act on; None when it is."""
    if not value:
        return "is empty"
    if len(value) > MAX_UID_LENGTH:
        return f"is {len(value)} characters long (a UID has at most {MAX_UID_LENGTH})"
    if _UID.fullmatch(value):
        return None
    if any(ch not in "0123456789." for ch in value):
        return "has characters other than digits and dots"
    components = value.split(".")
    if len(components) < 2:
        return "has a single component (a UID has at least two)"
    if any(component == "" for component in components):
        return "has an empty component (two dots in a row, or a leading or trailing dot)"
    return "has a component with a leading zero"


def is_valid_uid(value: str) -> bool:
    return uid_problem(value) is None
