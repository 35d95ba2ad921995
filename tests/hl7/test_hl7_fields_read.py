"""worklist.hl7map.fields_read lists every field the mapping reads (the Conformance Statement's HL7 field table):
each sample message is mapped by the intake's own handlers while every field read is recorded."""
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broker.hl7 import intake, parser
from broker.hl7.outcomes import Rejected
from worklist.hl7map.errors import MappingError
from worklist.hl7map.fields_read import FIELDS_READ

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "hl7"
BERLIN = ZoneInfo("Europe/Berlin")


def sample_messages() -> list[bytes]:
    messages = []
    for path in sorted(SAMPLES.glob("*.hl7")):
        text = path.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        messages += [b"MSH" + part.strip(b"\r") for part in re.split(rb"(?:^|\r)MSH", text) if part.strip(b"\r")]
    return messages


@pytest.fixture
def fields_read(monkeypatch):
    seen: set[tuple[str, int]] = set()
    raw = parser.Segment.raw

    def recording_raw(segment, field):
        seen.add((segment.name, field))
        return raw(segment, field)

    monkeypatch.setattr(parser.Segment, "raw", recording_raw)
    return seen


def test_it_lists_every_field_the_mapping_of_the_samples_reads(fields_read):
    mapped = 0
    for raw in sample_messages():
        message = parser.parse(raw)
        handler = intake.HANDLERS.get((message.header.message_code, message.header.trigger_event))
        assert handler is not None, raw[:80]
        try:
            handler.map(message, BERLIN, "")
            mapped += 1
        except (MappingError, Rejected):
            pass  # the fields read before the refusal count all the same

    listed = {(segment, field) for segment, field, _ in FIELDS_READ}
    assert mapped > 10
    assert fields_read - listed == set(), "fields the mapping reads that worklist/hl7map/fields_read.py lacks"
    assert {("PID", 3), ("ORC", 1), ("OBR", 18), ("IPC", 3), ("TQ1", 7)} <= fields_read


def test_its_rows_are_unique_and_described():
    keys = [(segment, field) for segment, field, _ in FIELDS_READ]
    assert len(keys) == len(set(keys))
    assert all(meaning.strip() for _, _, meaning in FIELDS_READ)
