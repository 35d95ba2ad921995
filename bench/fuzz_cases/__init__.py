"""The fuzzing campaign's case generators: one named generator per kind of hostile input.

A generator takes a seeded `random.Random` and the campaign's `Seed` (the orders it placed) and returns
one `Case`; the runner in bench/fuzz.py sends it over the right channel and classifies the answer.
"""
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

KINDS: dict = {}  # name -> (channel, generator), in registration order
# Kinds whose every case costs the listener a second or more of CPU (pydicom decodes a 2,000-series N-SET at
# about 25 µs an element): their cases run one at a time, so that the per-case deadline measures how long the
# listener takes to answer one, not how long a queue of such cases the campaign itself made takes to drain.
HEAVY_KINDS: set = set()


@dataclass
class Case:
    kind: str
    channel: str  # hl7 | find | mpps | store | pdu
    payload: object
    # False where a correct peer keeps waiting for the rest (a frame without end block, half a PDU header):
    # then silence until the deadline is "waiting", not a hang.
    expect_reply: bool = True
    note: str = ""  # a short human description, for the report's reproductions
    extra: dict = field(default_factory=dict)


def kind(name: str, channel: str, *, heavy: bool = False):
    def register(function):
        KINDS[name] = (channel, function)
        if heavy:
            HEAVY_KINDS.add(name)
        return function
    return register


@dataclass
class Seed:
    """What the campaign placed before the hostile input: today's orders, one with a 60-character name.
    Each order: dict(accession, study_uid, patient_id, name, rp_id, sps_id, control)."""
    today: str  # YYYYMMDD in the department time zone
    orders: list
    station: str = "CT01"

    @property
    def accessions(self):
        return [o["accession"] for o in self.orders]

    @property
    def study_uids(self):
        return [o["study_uid"] for o in self.orders]

    @property
    def patient_ids(self):
        return [o["patient_id"] for o in self.orders]

    @property
    def names(self):
        return [o["name"] for o in self.orders]


def department_today(zone: str = "Europe/Berlin") -> str:
    return datetime.now(ZoneInfo(zone)).strftime("%Y%m%d")


def pick(rng, values):
    return values[rng.randrange(len(values))]


def flip_bytes(rng, data: bytes, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


BAD_UIDS = [".", "..", "1..2", "1.02.003", "1.2.3.", "", "0", "00.1", "1.2.a.4", "1.2.3.4 ", " 1.2.3", "../../x",
            "1" * 65, "1.2.3\\1.2.4", "-1.2", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27",
            "1.2.\x00.3", "1.2.3/4", "1,2,3"]

from bench.fuzz_cases import dimse, hl7, pdu  # noqa: E402,F401  (registers the kinds)
