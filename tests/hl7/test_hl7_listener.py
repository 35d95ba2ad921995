"""The MLLP listener with real sockets: every message type, order control code, ACK code, repeats and races."""
import socket
import threading
from datetime import UTC, datetime

import pytest

from broker.core.hl7v2.mllp import MLLPClient, frame
from broker.hl7.models import HL7Message
from broker.hl7.server import start_server
from tests.hl7.support import adt, error_code, msa, omi, orm, pid, sample, seg, segments_of, wait_until
from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep, StationAssignmentRule


@pytest.fixture
def listener(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, idle_timeout=5.0, max_message_bytes=1024 * 1024)
    yield running
    running.shutdown()


def send(listener, *messages: bytes) -> list[bytes]:
    with MLLPClient("127.0.0.1", listener.port, timeout=30) as client:
        return [client.send(m) for m in messages]


def send_one(listener, message: bytes) -> bytes:
    return send(listener, message)[0]


def steps_of(accession: str):
    return ScheduledProcedureStep.objects.filter(requested_procedure__order__accession_number=accession).order_by("sps_id")


# --- every message type answers AA and lands in the worklist -------------------------------------------------------

@pytest.mark.parametrize("name, control_id, accession, steps, encoding", [
    ("orm_o01_v231_nw_utf8.hl7", "AGF000123", "ACC1001", 1, "utf-8"),
    ("orm_o01_v231_nw_latin1.hl7", "SR-88231", "SR-ACC-5531", 1, "latin-1"),
    ("orm_o01_v24_nw.hl7", "GE0000451", "GHACC77881", 1, "utf-8"),  # no MSH-18: the default, UTF-8
    ("omi_o23_v251_nw_multi.hl7", "SEC-2026-0001", "UKACC4401", 3, "utf-8"),
])
def test_it_accepts_new_orders_from_each_ris_shape(listener, name, control_id, accession, steps, encoding):
    ack = send_one(listener, sample(name))
    assert msa(ack) == ("AA", control_id)
    assert steps_of(accession).filter(status="SCHEDULED").count() == steps
    row = HL7Message.objects.get(control_id=control_id)
    assert (row.outcome, row.order_control, bytes(row.raw)) == ("AA", "NW", sample(name))
    assert row.ack.encode(encoding) == ack  # the ACK staff see is the one sent, in the sender's character set
    assert row.peer.startswith("127.0.0.1:")


def test_it_stores_names_in_unicode_from_latin1_and_utf8(listener):
    send(listener, sample("orm_o01_v231_nw_latin1.hl7"), sample("omi_o23_v251_nw_multi.hl7"))
    assert Patient.objects.get(patient_id="P-20331").name == "Gärtner^Sören"
    assert Patient.objects.get(patient_id="UK-000815").name == "Łukasiewicz^Zoë=ウカシェヴィチ^ゾエ"


def test_it_answers_in_the_senders_character_set(listener):
    ack = send_one(listener, sample("orm_o01_v231_nw_latin1.hl7"))
    assert segments_of(ack)["MSH"][17] == "8859/1"


def test_it_maps_a_v231_order_into_patient_order_procedure_and_step(listener):
    StationAssignmentRule.objects.create(match_modality="CT", station_ae_titles="CT01,CT02", station_names="CT A,CT B")
    assert msa(send_one(listener, sample("orm_o01_v231_nw_utf8.hl7")))[0] == "AA"
    step = ScheduledProcedureStep.objects.select_related("requested_procedure__order__patient").get(sps_id="SPS1001")
    procedure, order = step.requested_procedure, step.requested_procedure.order
    assert (order.patient.patient_id, order.patient.issuer_of_patient_id, order.patient.name) == \
           ("4711", "KLINIKUM", "Müller^Jürgen^Karl^Dr.")
    assert (order.placer_order_number, order.filler_order_number, order.referring_physician_name) == \
           ("ORD1001", "FIL1001", "Weiß^Anna^^Dr.")
    assert (procedure.requested_procedure_id, procedure.study_instance_uid, procedure.code_value) == \
           ("RP1001", "1.2.826.0.1.3680043.10.1455.777.1", "CTKOPF")
    assert step.start == datetime(2026, 3, 15, 8, 30, tzinfo=UTC)  # 09:30 Berlin (UTC+1)
    assert (step.modality, step.station_ae_title, step.station_name) == ("CT", "CT01\\CT02", "CT A\\CT B")


def test_it_takes_the_station_from_ipc_before_the_rules(listener):
    StationAssignmentRule.objects.create(match_modality="CT", station_ae_titles="RULE_CT")
    send_one(listener, sample("omi_o23_v251_nw_multi.hl7"))
    stations = dict(steps_of("UKACC4401").values_list("sps_id", "station_ae_title"))
    assert stations == {"SPS4401A1": "PETCT1", "SPS4401A2": "PETCT1", "SPS4401B1": "CT02"}
    assert RequestedProcedure.objects.filter(order__accession_number="UKACC4401").count() == 2


def test_it_picks_the_most_specific_station_rule(listener):
    StationAssignmentRule.objects.create(priority=100, match_modality="CT", station_ae_titles="CT_ANY")
    StationAssignmentRule.objects.create(priority=100, match_modality="CT", match_procedure_code="CTHEART",
                                         station_ae_titles="CT_CARDIO")
    StationAssignmentRule.objects.create(priority=100, match_location="ER", station_ae_titles="ER_CR")
    send(listener, orm(placer="P1", accession="A1", code="CTHEAD^CT head^L"),
         orm(placer="P2", accession="A2", code="CTHEART^Cardiac CT^L"),
         orm(placer="P3", accession="A3", modality="CR", code="XR^Chest^L",
             pv1="PV1|1|E|ER^BAY4"))
    assert [steps_of(a).get().station_ae_title for a in ("A1", "A2", "A3")] == ["CT_ANY", "CT_CARDIO", "ER_CR"]


def test_it_generates_a_study_uid_that_later_changes_keep(listener, settings):
    assert msa(send_one(listener, orm(placer="P9", accession="A9")))[0] == "AA"
    uid = RequestedProcedure.objects.get(order__accession_number="A9").study_instance_uid
    assert uid.startswith(settings.BROKER_UID_ROOT)
    assert msa(send_one(listener, orm(control="XO", placer="P9", accession="A9", start="20260316120000")))[0] == "AA"
    procedure = RequestedProcedure.objects.get(order__accession_number="A9")
    assert procedure.study_instance_uid == uid
    assert procedure.scheduled_steps.get().start == datetime(2026, 3, 16, 11, 0, tzinfo=UTC)


# --- order control codes ------------------------------------------------------------------------------------------

def test_it_changes_an_order_on_xo_without_touching_the_patient(listener):
    send_one(listener, sample("orm_o01_v231_nw_utf8.hl7"))
    Patient.objects.filter(patient_id="4711").update(name="Changed^Elsewhere")
    assert msa(send_one(listener, sample("orm_o01_v231_xo.hl7")))[0] == "AA"
    step = steps_of("ACC1001").get()
    assert step.start == datetime(2026, 3, 15, 13, 0, tzinfo=UTC)
    assert step.requested_procedure.code_value == "CTKOPFKM"
    assert step.requested_procedure.order.priority == "STAT"
    assert Patient.objects.get(patient_id="4711").name == "Changed^Elsewhere"  # IHE RAD-13: no PID update on XO


def test_it_changes_one_step_of_a_multi_procedure_omi(listener):
    send(listener, sample("omi_o23_v251_nw_multi.hl7"), sample("omi_o23_v251_xo.hl7"))
    steps = {s.sps_id: s for s in steps_of("UKACC4401")}
    assert (steps["SPS4401B1"].station_ae_title, steps["SPS4401B1"].start) == \
           ("CT03", datetime(2026, 3, 18, 9, 0, tzinfo=UTC))
    assert steps["SPS4401A1"].start == datetime(2026, 3, 17, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("control, status, step_status, order_status", [
    ("CA", "CA", "CANCELED", "CANCELED"),
    ("OC", "CA", "CANCELED", "CANCELED"),
    ("DC", "DC", "DISCONTINUED", "DISCONTINUED"),
    ("SC", "IP", "STARTED", "IN_PROGRESS"),
    ("SC", "CM", "COMPLETED", "COMPLETED"),
    ("XO", "CM", "COMPLETED", "COMPLETED"),
])
def test_it_applies_order_control_codes_to_the_steps(listener, control, status, step_status, order_status):
    send_one(listener, orm(placer="P5", accession="A5"))
    ack = send_one(listener, orm(control=control, status=status, placer="P5", accession="A5"))
    assert msa(ack)[0] == "AA"
    assert steps_of("A5").get().status == step_status
    assert ImagingOrder.objects.get(accession_number="A5").status == order_status


def test_it_leaves_a_started_step_alone_on_discontinue(listener):
    send_one(listener, omi(placer="P6", accession="A6", ipcs=[("RP1", "1.2.3.6.1", "S1", "CT", "CT01"),
                                                              ("RP1", "1.2.3.6.1", "S2", "CT", "CT01")]))
    ScheduledProcedureStep.objects.filter(sps_id="S1").update(status="STARTED")
    send_one(listener, orm(control="DC", status="DC", placer="P6", accession="A6"))
    assert dict(steps_of("A6").values_list("sps_id", "status")) == {"S1": "STARTED", "S2": "DISCONTINUED"}


def test_it_runs_a_day_of_messages_from_one_file(listener):
    from broker.hl7.management.commands.sendhl7 import messages_in

    acks = send(listener, *messages_in(sample("feed_klinikum_day.hl7")))
    assert [msa(a)[0] for a in acks] == ["AA"] * 6
    assert steps_of("ACC1001").get().status == "CANCELED"
    assert Patient.objects.get(patient_id="4713").merged_into.patient_id == "4711"


# --- ADT ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, patient_id, expected_name", [
    ("adt_a01.hl7", "4712", "Ødegård^Åsa"),
    ("adt_a04.hl7", "4713", "Çelik^Emre"),
])
def test_it_registers_patients_from_adt(listener, name, patient_id, expected_name):
    assert msa(send_one(listener, sample(name)))[0] == "AA"
    assert Patient.objects.get(patient_id=patient_id, issuer_of_patient_id="KLINIKUM").name == expected_name


@pytest.mark.parametrize("event", ["A05", "A31"])
def test_it_updates_patients_from_pre_admit_and_person_updates(listener, event):
    send_one(listener, adt("A04", patient=pid("P31", "HOSP", "OLDNAME^ANN")))
    assert msa(send_one(listener, adt(event, patient=pid("P31", "HOSP", "NEWNAME^ANN"))))[0] == "AA"
    assert Patient.objects.get(patient_id="P31").name == "NEWNAME^ANN"


def test_it_shows_new_demographics_on_open_steps_after_a08(listener):
    send(listener, sample("orm_o01_v231_nw_utf8.hl7"))
    assert msa(send_one(listener, sample("adt_a08.hl7")))[0] == "AA"
    step = steps_of("ACC1001").select_related("requested_procedure__order__patient").get()
    patient = step.requested_procedure.order.patient
    assert (patient.name, str(patient.birth_date)) == ("Müller-Lüdenscheidt^Jürgen^Karl^Dr.", "1962-04-16")
    assert step.requested_procedure.order.current_patient_location == "STAT3 301 1"


def test_it_takes_the_patient_values_a_new_order_carries_and_keeps_those_it_leaves_empty(listener):
    known = seg("PID", {1: "1", 3: "P40^^^HOSP^MR", 5: "ALT^ANNA", 7: "19500101", 8: "F"})
    send_one(listener, adt("A04", patient=known))
    with_alias = seg("PID", {1: "1", 3: "P40^^^HOSP^MR~X9^^^AOK^SS", 5: "NEU^ANNA"})
    acks = send(listener, orm(placer="P41", accession="A41", patient=with_alias),
                orm(placer="P42", accession="A42", patient=with_alias))
    assert [msa(ack)[0] for ack in acks] == ["AA", "AA"]
    patient = Patient.objects.get(patient_id="P40")
    assert (patient.name, patient.name_search, str(patient.birth_date), patient.sex) == (
        "NEU^ANNA", "NEU^ANNA", "1950-01-01", "F")
    assert patient.other_patient_ids == [{"patient_id": "X9", "issuer": "AOK", "type": "SS"}]
    assert set(patient.orders.values_list("accession_number", flat=True)) == {"A41", "A42"}


def test_it_moves_orders_to_the_surviving_patient_on_a40(listener):
    send(listener, orm(placer="P7", accession="A7", patient=pid("4713", "KLINIKUM", "CELIK^EMRE")),
         sample("orm_o01_v231_nw_utf8.hl7"))
    assert msa(send_one(listener, sample("adt_a40.hl7")))[0] == "AA"
    surviving = Patient.objects.get(patient_id="4711")
    assert set(surviving.orders.values_list("accession_number", flat=True)) == {"A7", "ACC1001"}
    prior = Patient.objects.get(patient_id="4713")
    assert prior.merged_into == surviving and not prior.orders.exists()
    assert {"patient_id": "4713", "issuer": "KLINIKUM", "type": "", "merged": True} in surviving.other_patient_ids
    assert surviving.name == "Müller^Jürgen^Karl^Dr."


def test_it_refuses_new_orders_for_a_merged_patient_id(listener):
    send(listener, adt("A04", patient=pid("OLD1", "KLINIKUM")), adt("A04", patient=pid("NEW1", "KLINIKUM")),
         adt("A40", patient=pid("NEW1", "KLINIKUM"), mrg="OLD1^^^KLINIKUM"))
    ack = send_one(listener, orm(patient=pid("OLD1", "KLINIKUM"), placer="P8", accession="A8"))
    assert (msa(ack)[0], error_code(ack)) == ("AE", "204")
    assert not ImagingOrder.objects.filter(accession_number="A8").exists()


# --- AE: parses but cannot be applied -------------------------------------------------------------------------------

@pytest.mark.parametrize("message, code, location", [
    (orm(patient=pid(patient_id="")), "101", "PID-3"),
    (orm(accession=""), "101", "OBR-18"),
    (orm(start="20261399"), "102", "ORC-7.4"),
    (orm(patient=pid(birth="1970-01-01")), "102", "PID-7"),
    (orm(control="ZZ"), "103", "ORC-1"),
    (orm(patient=pid(sex="Q")), "103", "PID-8"),
    (orm(accession="ACCESSION-TOO-LONG-1"), "104", "OBR-18"),
    (orm(control="CA", status="CA", placer="NOPE"), "204", "ORC-2"),
    (orm(control="XO", placer="NOPE"), "204", "ORC-2"),
])
def test_it_answers_ae_with_err_and_applies_nothing(listener, message, code, location):
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AE", code)
    row = HL7Message.objects.get()
    assert (row.outcome, row.error_code, row.error_location) == ("AE", code, location)
    assert row.ack.encode() == ack
    assert not ImagingOrder.objects.exists()


def test_it_answers_ae_101_to_a_message_without_control_id(listener):
    message = orm(control_id="")
    assert message.split(b"\r", 1)[0].split(b"|")[9] == b""  # MSH-10 really is empty
    ack = send_one(listener, message)
    assert (msa(ack), error_code(ack)) == (("AE", ""), "101")
    row = HL7Message.objects.get()
    assert (row.outcome, row.error_code, row.error_location) == ("AE", "101", "MSH-10")
    assert row.ack.encode() == ack
    assert not ImagingOrder.objects.exists()


def test_it_finds_the_order_when_a_change_leaves_out_the_placer_namespace(listener):
    send_one(listener, sample("orm_o01_v231_nw_utf8.hl7"))  # ORC-2 ORD1001^AGFA_RIS
    ack = send_one(listener, orm(control="CA", status="CA", placer="ORD1001", accession="ACC1001"))
    assert msa(ack)[0] == "AA"
    assert steps_of("ACC1001").get().status == "CANCELED"


def test_it_answers_ae_205_for_a_second_new_order_with_the_same_placer_number(listener):
    send_one(listener, orm(placer="DUP1", accession="A1"))
    ack = send_one(listener, orm(placer="DUP1", accession="A2"))
    assert (msa(ack)[0], error_code(ack)) == ("AE", "205")
    assert ImagingOrder.objects.count() == 1


def test_it_rolls_back_everything_of_a_message_that_fails_half_way(listener):
    # The first ORC/OBR group is fine, the second refers to an unknown order: nothing of the message stays.
    message = orm(placer="OK1", accession="A1").decode() + "ORC|CA|UNKNOWN||||\rOBR|1|UNKNOWN||X\r"
    ack = send_one(listener, message.encode())
    assert (msa(ack)[0], error_code(ack)) == ("AE", "204")
    assert not ImagingOrder.objects.exists() and not Patient.objects.exists()


# --- AR: cannot be processed at all ---------------------------------------------------------------------------------

@pytest.mark.parametrize("message, code", [
    (b"MSH|^~\\&|LAB|HOSP|BROKER|RAD|2026||ORU^R01|C1|P|2.5.1\rPID|1||X\r", "200"),
    (adt("A99"), "201"),
    (orm().replace(b"|P|2.3.1", b"|X|2.3.1"), "202"),
    (orm(version="2.1"), "203"),
    (orm(charset="EBCDIC"), "103"),
])
def test_it_answers_ar_for_what_it_cannot_process(listener, message, code):
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AR", code)
    row = HL7Message.objects.get()
    assert (row.outcome, row.error_code, bytes(row.raw)) == ("AR", code, message)


def test_it_stores_invalid_utf8_as_it_arrived_and_says_which_byte(listener):
    message = orm(charset="UNICODE UTF-8").replace(b"DOE^JANE", b"M\xfcller^JANE")
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AR", "102")
    row = HL7Message.objects.get()
    assert bytes(row.raw) == message
    assert "byte(s) fc at offset" in row.error_text and row.error_location == "MSH-18"


@pytest.mark.parametrize("payload", [b"hello, is this the lab?", b"MSH|^|x", b"PID|1||X\rOBR|1\r", b"\x00\xff" * 40])
def test_it_answers_ar_to_a_frame_without_msh(listener, payload):
    ack = send_one(listener, payload)
    assert (msa(ack)[0], error_code(ack)) == ("AR", "100")
    assert bytes(HL7Message.objects.get(outcome="AR").raw) == payload


# --- repeats and races ----------------------------------------------------------------------------------------------

def test_it_answers_a_repeated_message_with_the_same_ack_and_applies_it_once(listener):
    message = orm(placer="P1", accession="A1", control_id="REPEAT-1")
    first, second = send(listener, message, message)
    assert first == second and msa(first) == ("AA", "REPEAT-1")
    assert ImagingOrder.objects.count() == 1
    original, repeat = HL7Message.objects.order_by("id")
    assert repeat.duplicate_of == original and repeat.outcome == "AA"


def test_it_treats_the_same_control_id_from_another_sender_as_a_new_message(listener):
    acks = send(listener, orm(placer="P1", accession="A1", control_id="C1", app="RIS_A"),
                orm(placer="P2", accession="A2", control_id="C1", app="RIS_B"))
    assert [msa(a)[0] for a in acks] == ["AA", "AA"]
    assert ImagingOrder.objects.count() == 2


def test_it_applies_a_corrected_resend_after_an_ae(listener):
    send_one(listener, orm(control="CA", status="CA", placer="LATE", accession="L1", control_id="CA-1"))
    send_one(listener, orm(placer="LATE", accession="L1"))
    ack = send_one(listener, orm(control="CA", status="CA", placer="LATE", accession="L1", control_id="CA-1"))
    assert msa(ack)[0] == "AA"  # only accepted messages are deduplicated: an AE'd one is tried again
    assert steps_of("L1").get().status == "CANCELED"


def _at_once(listener, messages: list[bytes]) -> list[bytes]:
    """Send each message on its own connection, released together."""
    clients = [MLLPClient("127.0.0.1", listener.port, timeout=30).connect() for _ in messages]
    barrier = threading.Barrier(len(messages))
    acks = [None] * len(messages)

    def run(i):
        barrier.wait()
        acks[i] = clients[i].send(messages[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(messages))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for client in clients:
        client.close()
    return acks


def test_it_creates_one_patient_for_two_orders_arriving_at_once(listener):
    for round_ in range(5):
        patient = pid(f"RACE{round_}", "HOSP", "RACE^CONDITION")
        acks = _at_once(listener, [orm(placer=f"R{round_}A", accession=f"R{round_}A", patient=patient),
                                   orm(placer=f"R{round_}B", accession=f"R{round_}B", patient=patient)])
        assert [msa(a)[0] for a in acks] == ["AA", "AA"]
        assert Patient.objects.filter(patient_id=f"RACE{round_}").count() == 1
        assert ImagingOrder.objects.filter(patient__patient_id=f"RACE{round_}").count() == 2


def test_it_applies_once_a_message_repeated_on_two_connections_at_once(listener):
    for round_ in range(3):
        message = orm(placer=f"TWIN{round_}", accession=f"T{round_}", control_id=f"TWIN-{round_}")
        first, second = _at_once(listener, [message, message])
        assert first == second and msa(first)[0] == "AA"
        assert ImagingOrder.objects.filter(placer_order_number=f"TWIN{round_}").count() == 1


# --- broken transport -----------------------------------------------------------------------------------------------

def test_it_logs_garbage_outside_frames_and_keeps_serving(listener):
    with socket.create_connection(("127.0.0.1", listener.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n")
    row = wait_until(lambda: HL7Message.objects.filter(outcome="AR").first())
    assert bytes(row.raw).startswith(b"GET / HTTP/1.1") and "outside any MLLP frame" in row.error_text
    assert msa(send_one(listener, orm()))[0] == "AA"


def test_it_closes_a_connection_whose_frame_never_ends_at_the_idle_timeout(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, idle_timeout=0.5)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(b"\x0b" + orm(control_id="NOEND"))
            assert sock.recv(100) == b""  # closed by the listener, no ACK for an unfinished frame
        row = wait_until(lambda: HL7Message.objects.filter(control_id="NOEND").first())
        assert row.outcome == "AR" and "unfinished MLLP frame" in row.error_text
        assert not ImagingOrder.objects.exists()
    finally:
        running.shutdown()


def test_it_closes_a_connection_with_a_50_mb_frame_and_serves_others(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, max_message_bytes=10 * 1024 * 1024)
    try:
        huge = orm(control_id="HUGE") + b"NTE|1||" + b"x" * (50 * 1024 * 1024) + b"\r"
        outcome = {}

        def flood():
            try:
                with socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
                    sock.sendall(frame(huge))
                    outcome["reply"] = sock.recv(100)
            except OSError as exc:  # reset by the listener while we were still sending
                outcome["error"] = exc

        sender = threading.Thread(target=flood)
        sender.start()
        assert msa(send_one(running, orm(placer="OTHER", accession="OTHER")))[0] == "AA"
        sender.join(60)
        assert outcome.get("reply", b"") == b""  # no ACK: the connection was closed
        row = wait_until(lambda: HL7Message.objects.filter(control_id="HUGE").first())
        assert row.outcome == "AR" and "exceeds" in row.error_text
        assert row.raw_size > 10 * 1024 * 1024 and len(bytes(row.raw)) <= 64 * 1024 and row.is_excerpt
        assert bytes(row.raw).startswith(b"MSH|")
        assert ImagingOrder.objects.filter(accession_number="OTHER").exists()
    finally:
        running.shutdown()


def test_it_serves_many_connections_at_once(listener):
    acks = _at_once(listener, [orm(placer=f"M{i}", accession=f"M{i}", patient=pid(f"MANY{i}")) for i in range(16)])
    assert [msa(a)[0] for a in acks] == ["AA"] * 16
    assert ImagingOrder.objects.count() == 16
