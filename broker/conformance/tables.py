"""Small readers shared by the statement's sections: UIDs and tags in words, status tables as rows."""
import re

from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.tag import Tag
from pydicom.uid import UID


def uid_name(uid: str) -> str:
    """A UID's name in the standard, or what it is when the standard has none."""
    name = UID(uid).name
    return name if name != uid else "(not in the DICOM standard as pydicom knows it)"


def tag_text(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return f"({Tag(tag).group:04X},{Tag(tag).element:04X})" if tag is not None else ""


def attribute_name(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    return dictionary_description(tag) if tag is not None else keyword


# Library exceptions of the status tables, in words (the broker's own say it in their docstrings).
LIBRARY_CONDITIONS = {
    "Exception": "any other failure",
    "OSError": "the file cannot be written (disk full, permissions)",
    "DataError": "a value the database cannot store",
    "DatabaseError": "the database failed",
    "OperationalError": "the database is busy or locked",
}


def condition(exc_type: type) -> str:
    """What an exception of a status table stands for, in words: its own docstring's first line, else its name."""
    if exc_type.__name__ in LIBRARY_CONDITIONS and exc_type.__module__.split(".")[0] not in ("broker", "worklist",
                                                                                            "mpps"):
        return LIBRARY_CONDITIONS[exc_type.__name__]
    doc = exc_type.__dict__.get("__doc__") or ""
    if doc.strip() and exc_type.__module__.split(".")[0] in ("broker", "worklist", "mpps"):
        return doc.strip().splitlines()[0].rstrip(".")
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", exc_type.__name__).lower()
    return words


def hex_status(code: int) -> str:
    return f"0x{code:04X}"


def first_line(module) -> str:
    return (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else module.__name__
