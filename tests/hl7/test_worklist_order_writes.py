"""The two ways new orders are written (worklist.order_writes) leave the same rows.

The same feed — the Klinikum day sample plus generated new orders for known, changed and new patients,
repeats, a change adding a procedure, a taken placer number, a merge and an order for the merged patient —
goes through broker.hl7.intake.receive once with BROKER_HL7_ORDER_WRITES=orm (the ORM for every message)
and once with "statement" (the one-statement fast path where it applies); every row of the worklist tables
and of the HL7 log is compared, all columns but ids, timestamps and what is generated per run.
Runs on both databases (the SQLite pass and the PostgreSQL pass of the suite).
"""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from broker.hl7.intake import receive
from broker.hl7.management.commands.sendhl7 import messages_in
from broker.hl7.models import HL7Message
from tests.hl7.support import adt, error_code, msa, omi, orm, pid, sample
from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

pytestmark = pytest.mark.django_db(transaction=True)

TABLES = (Patient, ImagingOrder, RequestedProcedure, ScheduledProcedureStep, HL7Message)
NOT_COMPARED = {"id", "created_at", "updated_at", "received_at", "processing_ms"}


def _feed() -> list[bytes]:
    """Built once, so both passes get the same bytes (control IDs included)."""
    feed = messages_in(sample("feed_klinikum_day.hl7"))
    known = [pid(f"DP{n}", name=f"KNOWN^PATIENT{n}", birth="19800101", sex="M") for n in range(4)]
    feed += [adt("A04", patient=p) for p in known]
    for n in range(12):  # known patients, left unchanged: the fast path's case
        feed.append(orm(placer=f"DPL{n}", accession=f"DACC{n}", patient=known[n % 4], sps_id=f"DSPS{n}"))
    feed.append(orm(placer="DPL20", accession="DACC20", patient=pid("DP1", name="", birth="", sex="")))  # all empty
    feed.append(orm(placer="DPL21", accession="DACC21", patient=pid("DP2", name="RENAMED^PATIENT2")))  # a change
    feed.append(orm(placer="DPL22", accession="DACC22", patient=pid("DP9", name="NEW^PATIENT9")))  # a new patient
    feed.append(omi(placer="DPL23", accession="DACC23", patient=known[3], ipcs=[
        ("DRP1", "1.2.826.0.1.3680043.10.1455.9.1", "DSPS1", "CT", "CT01"),
        ("DRP1", "1.2.826.0.1.3680043.10.1455.9.1", "DSPS2", "CT", "CT02"),
        ("DRP2", "1.2.826.0.1.3680043.10.1455.9.2", "DSPS3", "MR", "MR01")]))
    feed.append(feed[-5])  # a repeat: the same bytes, answered with the same ACK
    feed.append(orm(placer="DPL0", accession="DACC99", patient=known[1]))  # placer taken by another patient
    feed.append(orm(control="XO", placer="DPL1", accession="DACC1", patient=known[1], rp_id="DRPX",
                    zds="1.2.826.0.1.3680043.10.1455.9.3"))  # a procedure added to an order
    feed.append(orm(placer="DPL40", accession="DACC0", patient=known[2]))  # accession of another patient's order
    feed.append(orm(placer="DPL41", accession="DACC1", patient=known[1]))  # the same patient's accession: no conflict
    feed.append(omi(placer="DPL42", accession="DACC42", patient=known[2], ipcs=[
        ("DRP9", "1.2.826.0.1.3680043.10.1455.9.2", "DSPS9", "MR", "MR01")]))  # a Study Instance UID taken
    feed.append(orm(placer="DPL43", accession="DACC43", patient=known[3], control_id="DREUSE"))
    feed.append(orm(placer="DPL44", accession="DACC44", patient=known[3], control_id="DREUSE"))  # control ID reused
    feed.append(adt("A40", patient=known[0], mrg="DP2^^^HOSP"))
    feed.append(orm(placer="DPL30", accession="DACC30", patient=known[2]))  # the merged patient: AE 204
    feed.append(orm(placer="DPL31", accession="DACC31", patient=known[0]))
    return feed


FEED = _feed()
SENT = b"".join(FEED)


def _masked(text: str) -> str:
    # Row ids quoted in error texts; an ACK's ERR text is cut to a length, so there the rest of it goes too.
    text = re.sub(r"#\d+[^|\r]*" if text.startswith("MSH") else r"#\d+", "#N", text)
    lines = text.split("\r")
    if lines and lines[0].startswith("MSH"):
        fields = lines[0].split("|")
        fields[6:7] = ["(time)"] if len(fields) > 6 else []  # MSH-7
        if len(fields) > 9:
            fields[9] = "(ack control id)"
        lines[0] = "|".join(fields)
    return "\r".join(lines)


def _snapshot() -> dict:
    """Every row of every table, in insertion order; a foreign key as the position of the row it names."""
    positions = {model: {pk: n for n, pk in enumerate(model.objects.order_by("pk").values_list("pk", flat=True))}
                 for model in TABLES}
    tables = {}
    for model in TABLES:
        rows = []
        for obj in model.objects.order_by("pk"):
            row = {}
            for field in model._meta.concrete_fields:
                if field.name in NOT_COMPARED:
                    continue
                value = getattr(obj, field.attname)
                if field.is_relation and value is not None:
                    value = (field.related_model.__name__, positions[field.related_model][value])
                elif field.name == "study_instance_uid" and value.encode() not in SENT:
                    value = "(generated)"  # generate_uid's, new in each pass
                elif isinstance(value, str):
                    value = _masked(value)
                elif isinstance(value, memoryview):
                    value = bytes(value)
                row[field.name] = value
            rows.append(row)
        tables[model.__name__] = rows
    return tables


def _differences(expected: dict, actual: dict) -> list[str]:
    found = []
    for table, rows in expected.items():
        if len(rows) != len(actual[table]):
            found.append(f"{table}: {len(rows)} rows through the ORM, {len(actual[table])} through the statement")
        for n, (one, other) in enumerate(zip(rows, actual[table], strict=False)):
            found += [f"{table} row {n} {name}: {one[name]!r} != {other[name]!r}" for name in one
                      if one[name] != other[name]]
    return found


def _wipe() -> None:
    HL7Message.objects.all().delete()
    ScheduledProcedureStep.objects.all().delete()
    RequestedProcedure.objects.all().delete()
    ImagingOrder.objects.all().delete()
    Patient.objects.update(merged_into=None)
    Patient.objects.all().delete()


def _send_feed(mode: str, django_settings) -> tuple[list, dict, int]:
    django_settings.BROKER_HL7_ORDER_WRITES = mode
    with CaptureQueriesContext(connection) as queries:
        acks = [msa(receive(raw, "ris:1").ack)[0] for raw in FEED]
    return acks, _snapshot(), len(queries)


def test_it_writes_the_same_rows_through_both_paths(settings):
    orm_acks, orm_rows, orm_queries = _send_feed("orm", settings)
    _wipe()
    fast_acks, fast_rows, fast_queries = _send_feed("statement", settings)
    assert fast_acks == orm_acks
    # The taken placer number, accession and Study Instance UID, and the merged patient.
    assert orm_acks.count("AE") == 4 and orm_acks.count("AR") == 0
    assert _differences(orm_rows, fast_rows) == []  # every row of every table, all columns but ids and timestamps
    assert [len(orm_rows[t]) for t in ("ImagingOrder", "ScheduledProcedureStep")] == [21, 24]
    assert sum("control ID reused" in row["error_text"] for row in orm_rows["HL7Message"]) == 1
    # The fast path ran: its statements go past Django's cursor, so the pass that used it shows fewer queries.
    assert fast_queries < orm_queries


def test_it_keeps_stored_demographics_when_the_fields_are_empty(settings):
    settings.BROKER_HL7_ORDER_WRITES = "statement"
    receive(adt("A04", patient=pid("EP1", name="KEPT^NAME", birth="19800101", sex="M")), "ris:1")
    ack = receive(orm(placer="EPL1", accession="EACC1", patient=pid("EP1", name="", birth="", sex="")), "ris:1").ack
    assert msa(ack)[0] == "AA"
    patient = Patient.objects.get(patient_id="EP1")
    assert (patient.name, str(patient.birth_date), patient.sex) == ("KEPT^NAME", "1980-01-01", "M")
    assert patient.orders.get().accession_number == "EACC1"


@pytest.mark.parametrize("mode", ["orm", "statement"])
def test_it_refuses_an_order_for_a_merged_patient(settings, mode):
    settings.BROKER_HL7_ORDER_WRITES = mode
    receive(adt("A04", patient=pid("MP1")), "ris:1")
    receive(adt("A04", patient=pid("MP2")), "ris:1")
    receive(adt("A40", patient=pid("MP1"), mrg="MP2^^^HOSP"), "ris:1")
    receipt = receive(orm(placer="MPL1", accession="MACC1", patient=pid("MP2")), "ris:1")
    assert (msa(receipt.ack)[0], error_code(receipt.ack)) == ("AE", "204")
    assert not ImagingOrder.objects.exists()
