"""The one-statement reads before a new order (worklist.new_order_reads, broker.hl7.lookups) against the plain
ORM reads they stand in for, case by case, on both databases (the whole feed both ways is in
test_worklist_order_writes.py)."""
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from broker.hl7 import lookups, parser
from broker.hl7.intake import receive
from broker.hl7.models import HL7Message
from tests.hl7.support import msa, omi, orm, pid, seg
from worklist.hl7map.errors import DuplicateKey
from worklist.hl7map.orders import map_order_message
from worklist.models import Patient
from worklist.new_order_reads import patient_and_key_check
from worklist.orders import check_new_order_keys
from worklist.patients import find_patient

pytestmark = pytest.mark.django_db

WEIGHED = pid("RP1", name="MÜLLER^JÜRGEN", birth="19620415", sex="M")


def _mapped(raw: bytes):
    return map_order_message(parser.Message(parser.decode(raw, parser.read_header(raw)), parser.read_header(raw)),
                             ZoneInfo("Europe/Berlin"))


def _plain(mapped) -> tuple[Patient | None, bool]:
    try:
        check_new_order_keys(mapped)
        taken = False
    except DuplicateKey:
        taken = True
    return find_patient(mapped.patient), taken


@pytest.fixture
def stored():
    """Two patients, one with weight, size and other IDs (the columns a raw read must convert), each with an order."""
    obx = seg("OBX", {1: "1", 2: "NM", 3: "3142-7^Body weight^LN", 5: "72.5", 6: "kg"})
    first = orm(placer="RPL1", accession="RACC1", patient=WEIGHED, zds="1.2.826.0.1.3680043.10.1455.77.1")
    first = first.replace(b"\rORC", b"\r" + obx.encode() + b"\rORC")
    second = orm(placer="RPL2", accession="RACC2", patient=pid("RP2", name="DOE^JANE"), obr_extra={3: "RFIL2"})
    for raw in (first, second):
        assert msa(receive(raw, "ris:1").ack)[0] == "AA"
    assert Patient.objects.get(patient_id="RP1").weight_kg == Decimal("72.50")


# case -> (message, whether the plain check finds a taken key)
CASES = {
    "keys free, patient known": (orm(placer="RPL9", accession="RACC9", patient=WEIGHED), False),
    "keys free, patient new": (orm(placer="RPL9", accession="RACC9", patient=pid("RP9", name="NEW^ONE")), False),
    "placer taken by the same patient": (orm(placer="RPL1", accession="RACC9", patient=WEIGHED), True),
    "placer taken by another patient": (orm(placer="RPL2", accession="RACC9", patient=WEIGHED), True),
    "accession of another patient": (orm(placer="RPL9", accession="RACC2", patient=WEIGHED), True),
    "filler of another patient": (orm(placer="RPL9", accession="RACC9", patient=WEIGHED,
                                      obr_extra={3: "RFIL2"}), True),
    "study UID taken": (omi(placer="RPL9", accession="RACC9", patient=WEIGHED,
                            ipcs=[("RP9", "1.2.826.0.1.3680043.10.1455.77.1", "S9", "CT", "CT01")]), True),
}


@pytest.mark.parametrize("case", CASES)
def test_it_reads_what_the_plain_reads_read(case, stored):
    raw, taken = CASES[case]
    mapped = _mapped(raw)
    patient, key_may_be_taken = patient_and_key_check(mapped)
    plain_patient, plain_taken = _plain(mapped)
    assert plain_taken is taken
    assert key_may_be_taken is taken  # never lets a taken key through; the plain check then names it
    if patient is None or plain_patient is None:
        assert patient is plain_patient is None
    else:
        assert {f.attname: getattr(patient, f.attname) for f in Patient._meta.concrete_fields} == \
               {f.attname: getattr(plain_patient, f.attname) for f in Patient._meta.concrete_fields}


def test_it_is_exact_where_the_plain_check_finds_nothing(stored):
    """Only the same patient's own accession (no conflict for the plain check) sends a message the long way."""
    same_accession = _mapped(orm(placer="RPL9", accession="RACC1", patient=WEIGHED))
    assert _plain(same_accession)[1] is False and patient_and_key_check(same_accession)[1] is True


def _plain_reuse(app, facility, control_id, key):
    found = (HL7Message.objects.filter(sending_application=app, sending_facility=facility, control_id=control_id,
                                       accepted_key__isnull=False).exclude(accepted_key=key).order_by("pk").first())
    return found.pk if found else None


def test_it_finds_the_reused_control_id_as_the_orm_does():
    sent = [orm(placer=f"CPL{n}", accession=f"CACC{n}", control_id="C1") for n in range(3)]
    sent.append(orm(placer="CPL9", accession="CACC9", control_id="C2", app="OTHER_RIS"))
    for raw in sent:
        receive(raw, "ris:1")
    keys = list(HL7Message.objects.values_list("accepted_key", flat=True)) + ["not-a-key"]
    for app in ("TEST_RIS", "OTHER_RIS"):
        for control_id in ("C1", "C2", "C3"):
            for key in keys:
                assert lookups.reused_control_id(app, "HOSP", control_id, key) == \
                       _plain_reuse(app, "HOSP", control_id, key)
    assert lookups.reused_control_id("TEST_RIS", "HOSP", "C1", "not-a-key") == HL7Message.objects.first().pk
