"""What the HL7 log is searched by inside a message: its patient ID (PID-3) and accession (IPC-1, else OBR-18),
read leniently from the bytes as received, so that a refused message (broken MSH-18, unknown order, missing
field) is found by the same keys as an accepted one. Pure: bytes in, keys out.

Keys are upper-cased, as the log's search compares them, and NUL bytes dropped; identifiers are ASCII in practice,
and any other byte is read as Latin-1 so that nothing here can fail.
"""
from dataclasses import dataclass

MAX_KEY = 64  # the log's columns


@dataclass(frozen=True)
class ContentKeys:
    patient_id: str = ""
    accession_number: str = ""


def _fields(segment: str, separator: str) -> list[str]:
    return segment.split(separator)


def _first_component(value: str, component: str, repetition: str) -> str:
    return value.split(repetition, 1)[0].split(component, 1)[0].strip()


def content_keys(raw: bytes) -> ContentKeys:
    text = raw[:1_000_000].decode("latin-1")
    start = text.find("MSH")
    if start < 0 or len(text) < start + 8:
        return ContentKeys()
    separator, encoding = text[start + 3], text[start + 4:start + 8]
    component, repetition = (encoding[0], encoding[1]) if len(encoding) >= 2 else ("^", "~")
    patient_id = accession = obr_accession = ""
    for segment in text[start:].replace("\n", "\r").split("\r"):
        name = segment[:3]
        if name == "PID" and not patient_id:
            fields = _fields(segment, separator)
            patient_id = _first_component(fields[3], component, repetition) if len(fields) > 3 else ""
        elif name == "IPC" and not accession:
            fields = _fields(segment, separator)
            accession = _first_component(fields[1], component, repetition) if len(fields) > 1 else ""
        elif name == "OBR" and not obr_accession:
            fields = _fields(segment, separator)
            obr_accession = _first_component(fields[18], component, repetition) if len(fields) > 18 else ""
    return ContentKeys(_key(patient_id), _key(accession or obr_accession))


def _key(value: str) -> str:
    # A NUL byte (a refused message may carry one) cannot be stored in a PostgreSQL text column.
    return value.replace("\x00", "").upper()[:MAX_KEY]
