"""The RIS status message: ORM^O01 / OMI^O23 built from an order, and the ACK read back."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hl7apy.parser import parse_message

from broker.outbound import hl7_status
from tests.mpps.support import segment
from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

NOW = datetime(2026, 11, 26, 8, 45, 0, tzinfo=ZoneInfo("Europe/Berlin"))
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
                               control_id="C1", now=NOW)
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
                               control_id="C2", now=NOW)
    assert segment(message, "MSH")[9] == "OMI^O23^OMI_O23" and segment(message, "MSH")[12] == "2.5.1"
    assert segment(message, "ORC")[5] == "CM"
    ipc = segment(message, "IPC")
    assert ipc[1:6] == ["ACC1", "RP1", "1.2.3.4", "SPS1", "CT"]
    assert segment(message, "TQ1")[7] == "20261126084500"
    parse_message(message, find_groups=False)


def test_it_declares_utf8_for_non_ascii_names_and_reorders_the_name():
    order, procedures = order_actors(name="MÜLLER^JÜRGEN^^DR^III")
    message = hl7_status.build("ORM", order=order, procedures=procedures, order_status="IP", sender=SENDER,
                               control_id="C3", now=NOW)
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
