"""The RIS status message: ORM^O01 / OMI^O23 built from an order, and the ACK read back."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hl7apy.parser import parse_message

from broker.outbound import hl7_status
from tests.mpps.support import segment
from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 26, 8, 45, 0, tzinfo=BERLIN)
SENDER = hl7_status.Sender("BROKER", "RADIOLOGY", "RIS", "HOSP")


def order_actors(name="MÜLLER^JÜRGEN^^DR", version="2.3.1"):
    patient = Patient(patient_id="PID42", issuer_of_patient_id="HOSP", name=name, birth_date=date(1970, 5, 17), sex="M")
    order = ImagingOrder(patient=patient, placer_order_number="PL1", placer_issuer="RIS", filler_order_number="FL1",
                         filler_issuer="BROKER", accession_number="ACC1", hl7_version=version)
    procedure = RequestedProcedure(order=order, requested_procedure_id="RP1", description="CT HEAD",
                                   code_value="CTHEAD", code_scheme="99LOCAL", code_meaning="CT head",
                                   study_instance_uid="1.2.3.4")
    step = ScheduledProcedureStep(requested_procedure=procedure, sps_id="SPS1", modality="CT", start=NOW)
    return order, [(procedure, [step])]


@pytest.mark.parametrize("message_format, version, kind", [
    ("AUTO", "2.3.1", "ORM"), ("AUTO", "2.4", "ORM"), ("AUTO", "2.5", "OMI"), ("AUTO", "2.5.1", "OMI"),
    ("AUTO", "", "ORM"), ("ORM", "2.5.1", "ORM"), ("OMI", "2.3.1", "OMI"),
])
def test_it_chooses_the_message_kind(message_format, version, kind):
    assert hl7_status.message_kind(message_format, version) == kind


@pytest.mark.parametrize("status", ["IP", "CM", "DC", "SC"])
def test_it_builds_an_orm_with_order_control_sc_and_the_order_status(status):
    order, procedures = order_actors(name="DOE^JOHN")
    message = hl7_status.build("ORM", order=order, procedures=procedures, order_status=status, sender=SENDER,
                               control_id="C1", now=NOW, zone=BERLIN)
    assert segment(message, "MSH")[9] == "ORM^O01" and segment(message, "MSH")[12] == "2.3.1"
    orc = segment(message, "ORC")
    assert (orc[1], orc[2], orc[3], orc[5]) == ("SC", "PL1^RIS", "FL1^BROKER", status)
    obr = segment(message, "OBR")
    assert (obr[18], obr[19], obr[20], obr[24]) == ("ACC1", "RP1", "SPS1", "CT")
    assert segment(message, "ZDS")[1].startswith("1.2.3.4^")
    parsed = parse_message(message, find_groups=False)
    assert parsed.msh.msh_10.value == "C1"


def test_it_builds_an_omi_with_an_ipc_per_step():
    order, procedures = order_actors(name="DOE^JOHN", version="2.5.1")
    message = hl7_status.build("OMI", order=order, procedures=procedures, order_status="CM", sender=SENDER,
                               control_id="C2", now=NOW, zone=BERLIN)
    assert segment(message, "MSH")[9] == "OMI^O23^OMI_O23" and segment(message, "MSH")[12] == "2.5.1"
    assert segment(message, "ORC")[5] == "CM"
    ipc = segment(message, "IPC")
    assert ipc[1:6] == ["ACC1", "RP1", "1.2.3.4", "SPS1", "CT"]
    assert segment(message, "TQ1")[7] == "20261126084500+0100"
    parse_message(message, find_groups=False)


def test_it_declares_utf8_for_non_ascii_names_and_reorders_the_name():
    order, procedures = order_actors(name="MÜLLER^JÜRGEN^^DR^III")
    message = hl7_status.build("ORM", order=order, procedures=procedures, order_status="IP", sender=SENDER,
                               control_id="C3", now=NOW, zone=BERLIN)
    assert segment(message, "MSH")[18] == "UNICODE UTF-8"
    assert segment(message, "PID")[5] == "MÜLLER^JÜRGEN^^III^DR"  # DICOM prefix^suffix → XPN suffix^prefix
    assert hl7_status.encode(message).decode("utf-8") == message


@pytest.mark.parametrize("raw, expected", [
    ("a|b", "a\\F\\b"), ("a^b", "a\\S\\b"), ("a&b", "a\\T\\b"), ("a~b", "a\\R\\b"), ("a\\b", "a\\E\\b"), ("", ""),
])
def test_it_escapes_delimiters(raw, expected):
    assert hl7_status.escape(raw) == expected


@pytest.mark.parametrize("reply, accepted, code", [
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.3.1\rMSA|AA|C1", True, "AA"),
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.5.1\rMSA|CA|C1", True, "CA"),
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.3.1\rMSA|AE|C1|Unknown order", False, "AE"),
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.3.1\rMSA|AR|C1", False, "AR"),
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.3.1\rMSA|AA|OTHER", False, "AA"),
    ("MSH|^~\\&|RIS|H|B|R|20261126||ACK|X|P|2.3.1", False, "?"),
])
def test_it_reads_the_ack(reply, accepted, code):
    reading = hl7_status.read_ack(reply.encode(), "C1")
    assert (reading.accepted, reading.code) == (accepted, code)


def order_starting(start, date_only=False, version="2.3.1"):
    order, procedures = order_actors(name="DOE^JOHN", version=version)
    step = procedures[0][1][0]
    step.start, step.start_date_only = start, date_only
    return order, procedures


UTC = ZoneInfo("UTC")


# Every time the RIS reads: the department's wall-clock time with its offset, on both sides of each DST switch.
@pytest.mark.parametrize("start, now, start_text, now_text", [
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),
     "20260329013000+0100", "20260329015959+0100"),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
     "20260329030000+0200", "20260329033000+0200"),
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
     "20261025023000+0200", "20261025023000+0100"),  # the repeated hour: the offset tells which
    (datetime(2026, 7, 1, 6, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
     "20260701080000+0200", "20270101003000+0100"),
])
@pytest.mark.parametrize("kind", ["ORM", "OMI"])
def test_it_writes_every_time_in_the_department_zone_with_its_offset(kind, start, now, start_text, now_text):
    order, procedures = order_starting(start)
    message = hl7_status.build(kind, order=order, procedures=procedures, order_status="IP", sender=SENDER,
                               control_id="C4", now=now, zone=BERLIN)
    assert segment(message, "MSH")[7] == now_text
    assert segment(message, "ORC")[9] == now_text
    assert segment(message, "OBR")[22] == now_text
    if kind == "OMI":
        assert segment(message, "TQ1")[7] == start_text
    else:
        assert segment(message, "ORC")[7].split("^")[3] == start_text
        assert segment(message, "OBR")[27].split("^")[3] == start_text
    parse_message(message, find_groups=False)


@pytest.mark.parametrize("kind", ["ORM", "OMI"])
def test_it_writes_a_date_only_start_as_the_date_alone(kind):
    # the start of 2026-12-04 in Berlin, which is 2026-12-03 in UTC: the department's date is the one sent
    order, procedures = order_starting(datetime(2026, 12, 3, 23, 0, tzinfo=UTC), date_only=True)
    message = hl7_status.build(kind, order=order, procedures=procedures, order_status="SC", sender=SENDER,
                               control_id="C5", now=NOW, zone=BERLIN)
    starts = ([segment(message, "TQ1")[7]] if kind == "OMI"
              else [segment(message, "ORC")[7].split("^")[3], segment(message, "OBR")[27].split("^")[3]])
    assert set(starts) == {"20261204"}


def test_it_leaves_the_timing_empty_for_a_step_without_a_start():
    order, procedures = order_starting(None)
    message = hl7_status.build("ORM", order=order, procedures=procedures, order_status="SC", sender=SENDER,
                               control_id="C6", now=NOW, zone=BERLIN)
    assert segment(message, "ORC")[7] == "" and segment(message, "OBR")[27] == ""
    assert segment(message, "PID")[7] == "19700517"
