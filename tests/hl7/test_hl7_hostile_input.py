"""Hostile or careless HL7 input over a real MLLP socket (issue 15): reused control IDs, keys that belong to
another patient's order, quadratic-looking repetitions, escaped and non-ASCII MSH-10, NUL characters."""
import logging
import threading
import time

import pytest

from broker.core.hl7v2.mllp import MLLPClient
from broker.dashboard import problems
from broker.hl7.ack import build_ack
from broker.hl7.models import HL7Message
from broker.hl7.parser import locate_nul, read_header
from broker.hl7.server import start_server
from tests.dashboard.support import make_user
from tests.hl7.support import adt, err, error_code, msa, msh, omi, orm, pid, segments_of, wait_until
from worklist.models import ImagingOrder, Patient, RequestedProcedure


@pytest.fixture
def listener(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, idle_timeout=10.0, max_message_bytes=10 * 1024 * 1024)
    yield running
    running.shutdown()


def send(listener, *messages: bytes) -> list[bytes]:
    with MLLPClient("127.0.0.1", listener.port, timeout=60) as client:
        return [client.send(m) for m in messages]


def send_one(listener, message: bytes) -> bytes:
    return send(listener, message)[0]


def at_once(listener, messages: list[bytes]) -> list[bytes]:
    """Each message on its own connection, released together."""
    clients = [MLLPClient("127.0.0.1", listener.port, timeout=60).connect() for _ in messages]
    barrier = threading.Barrier(len(messages))
    acks = [None] * len(messages)

    def run(i):
        barrier.wait(30)
        acks[i] = clients[i].send(messages[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(messages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    for client in clients:
        client.close()
    return acks


def no_tracebacks(caplog):
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def with_msh7(message: bytes, stamp: bytes) -> bytes:
    return message.replace(b"|20260312081502|", b"|" + stamp + b"|", 1)


# --- item 2: repeats are recognised by sender, control ID and content --------------------------------------------

def test_it_applies_an_orm_that_reuses_an_adt_control_id_and_lists_it_for_staff(listener, client):
    first = send_one(listener, adt("A08", control_id="DUP42"))
    second = send_one(listener, orm(placer="PL-DUP42", accession="ACC-DUP42", control_id="DUP42"))
    assert msa(first) == ("AA", "DUP42") and msa(second) == ("AA", "DUP42")
    assert first != second  # the order's own ACK, not the ADT's
    assert ImagingOrder.objects.filter(accession_number="ACC-DUP42").exists()
    earlier, reused = HL7Message.objects.order_by("pk")
    assert reused.reuses_control_id_of == earlier and reused.duplicate_of is None
    assert "control ID reused" in reused.error_text
    assert list(problems.reused_control_ids()) == [reused]
    client.force_login(make_user("viewer"))
    assert "HL7 control IDs reused" in client.get("/problems/").content.decode()
    assert "control ID reused" in client.get("/hl7/").content.decode()


def test_it_answers_a_resend_with_a_new_send_time_as_a_repeat(listener):
    message = orm(placer="PL-RS", accession="ACC-RS", control_id="RESEND-1")
    first, second = send(listener, message, with_msh7(message, b"20260312091502"))
    assert first == second and msa(first) == ("AA", "RESEND-1")
    assert ImagingOrder.objects.filter(placer_order_number="PL-RS").count() == 1
    original, repeat = HL7Message.objects.order_by("pk")
    assert repeat.duplicate_of == original and repeat.reuses_control_id_of is None


def test_it_applies_once_a_resend_with_a_new_send_time_on_two_connections_at_once(listener):
    for round_ in range(3):
        message = adt("A08", patient=pid(f"TWINADT{round_}", name="TWIN^ONE"), control_id=f"TW-{round_}")
        acks = at_once(listener, [message, with_msh7(message, b"20260312101502")])
        assert acks[0] == acks[1] and msa(acks[0])[0] == "AA"
        rows = HL7Message.objects.filter(control_id=f"TW-{round_}").order_by("pk")
        assert [r.duplicate_of_id is None for r in rows] == [True, False]
        assert Patient.objects.filter(patient_id=f"TWINADT{round_}").count() == 1


# --- item 7: a key of another patient's order is AE 205 naming the field and the order ----------------------------

def test_it_answers_ae_205_for_a_study_instance_uid_of_another_patients_order(listener, caplog):
    send_one(listener, omi(placer="PL-U1", accession="ACC-U1", patient=pid("PAT-U1"),
                           ipcs=[("RP1", "1.2.826.0.1.99.1", "SPS1", "CT", "CT01")]))
    ack = send_one(listener, omi(placer="PL-U2", accession="ACC-U2", patient=pid("PAT-U2"),
                                 ipcs=[("RP1", "1.2.826.0.1.99.1", "SPS1", "CT", "CT01")]))
    assert (msa(ack)[0], error_code(ack)) == ("AE", "205")
    assert err(ack)[2] == "IPC^1^3"
    order = ImagingOrder.objects.get(placer_order_number="PL-U1")
    assert f"order #{order.pk}" in err(ack)[8] and "1.2.826.0.1.99.1" in err(ack)[8]
    assert not ImagingOrder.objects.filter(placer_order_number="PL-U2").exists()
    row = problems.rejected_messages().get()
    assert (row.error_code, row.error_location) == ("205", "IPC-3")
    assert no_tracebacks(caplog)


def test_it_answers_ae_205_for_an_accession_number_of_another_patients_order(listener, caplog):
    send_one(listener, orm(placer="PL-A1", accession="ACC-SHARED", patient=pid("PAT-A1")))
    ack = send_one(listener, orm(placer="PL-A2", accession="ACC-SHARED", patient=pid("PAT-A2")))
    assert (msa(ack)[0], error_code(ack)) == ("AE", "205")
    assert err(ack)[1].startswith("OBR^1^18")  # v2.3.1: ERR-1 segment^sequence^field^code
    assert "Accession number 'ACC-SHARED'" in msa_text(ack) and ImagingOrder.objects.count() == 1
    assert no_tracebacks(caplog)


def test_it_answers_ae_205_for_a_filler_number_of_another_patients_order(listener, caplog):
    send_one(listener, orm(placer="PL-F1", accession="ACC-F1", patient=pid("PAT-F1"), obr_extra={3: "FIL-SHARED"}))
    ack = send_one(listener, orm(placer="PL-F2", accession="ACC-F2", patient=pid("PAT-F2"), obr_extra={3: "FIL-SHARED"}))
    assert (msa(ack)[0], error_code(ack)) == ("AE", "205")
    assert err(ack)[1].startswith("ORC^1^3") and ImagingOrder.objects.count() == 1
    assert no_tracebacks(caplog)


def test_it_keeps_taking_the_same_accession_for_the_same_patient(listener):
    send_one(listener, orm(placer="PL-S1", accession="ACC-SAME"))
    assert msa(send_one(listener, orm(placer="PL-S2", accession="ACC-SAME")))[0] == "AA"


def test_it_answers_ae_205_not_207_when_two_connections_race_for_one_study_instance_uid(listener, caplog):
    for round_ in range(3):
        uid = f"1.2.826.0.1.77.{round_ + 1}"
        acks = at_once(listener, [
            omi(placer=f"RACE{round_}A", accession=f"RA{round_}", patient=pid(f"RACE-A{round_}"),
                ipcs=[("RP1", uid, "SPS1", "CT", "CT01")]),
            omi(placer=f"RACE{round_}B", accession=f"RB{round_}", patient=pid(f"RACE-B{round_}"),
                ipcs=[("RP1", uid, "SPS1", "CT", "CT01")])])
        assert sorted((msa(a)[0], error_code(a)) for a in acks) == [("AA", ""), ("AE", "205")]
        assert RequestedProcedure.objects.filter(study_instance_uid=uid).count() == 1
    assert no_tracebacks(caplog)


def msa_text(ack: bytes) -> str:
    return segments_of(ack)["MSA"][3]


# --- item 8: parsing linear in the message size; every frame under the limit is answered --------------------------

def test_it_answers_50000_patient_id_repetitions_quickly_while_serving_a_normal_order(listener):
    hostile = orm(patient=pid(patient_id="~".join(f"ID{i}^^^HOSP^MR" for i in range(50000))), placer="PL-HOST")
    names = orm(patient=pid(patient_id="PAT-NAMES", name="~".join(["DOE^JOHN"] * 50000)), placer="PL-NAMES",
                accession="ACC-NAMES")
    answers, started = {}, time.monotonic()

    def hostile_sender(i, message):
        answers[i] = (send_one(listener, message), time.monotonic() - started)

    threads = [threading.Thread(target=hostile_sender, args=(i, hostile if i % 2 else names)) for i in range(8)]
    for thread in threads:
        thread.start()
    # the good order goes once the hostile ones are being applied (or already answered), not before
    wait_until(lambda: answers or not all(listener.server._idle.values()), timeout=30)
    good_started = time.monotonic()
    good = send_one(listener, orm(placer="PL-GOOD", accession="ACC-GOOD", patient=pid("PAT-GOOD")))
    good_took = time.monotonic() - good_started
    for thread in threads:
        thread.join(120)
    assert msa(good)[0] == "AA" and good_took < 5.0  # the quadratic parser took 6.7 s for one 8,000 repetitions
    assert all(took < 20.0 for _, took in answers.values()) and len(answers) == 8
    codes = {(msa(ack)[0], error_code(ack)) for ack, _ in answers.values()}
    assert codes == {("AE", "104"), ("AA", "")}  # too many patient IDs: precise; 50,000 name repetitions: taken
    assert "PID-3 has 50000 repetitions" in HL7Message.objects.filter(outcome="AE").first().error_text


def test_it_answers_a_frame_with_a_9_mb_field(listener):
    huge = orm(placer="PL-HUGE", accession="ACC-HUGE") + b"NTE|1||" + b"x" * (9 * 1024 * 1024) + b"\r"
    started = time.monotonic()
    ack = send_one(listener, huge)
    assert msa(ack)[0] in ("AA", "AE") and time.monotonic() - started < 30


# --- item 8: MSA-2 is MSH-10 exactly as sent ------------------------------------------------------------------------

@pytest.mark.parametrize("control_id, charset", [
    (b"A\\T\\B3", ""), (b"A\\E\\B\\F\\C", ""), (b"PLAIN-1", ""), ("ÜBER-1".encode(), "UNICODE UTF-8"),
    ("ÜBER-1".encode("latin-1"), "8859/1"), ("ŁÓDŹ-7".encode("iso8859-2"), "8859/2"),
])
def test_it_echoes_msh10_in_msa2_as_sent(control_id, charset):
    raw = msh(control_id="CTRL", charset=charset).encode("ascii").replace(b"CTRL", control_id) + b"\r"
    header = read_header(raw)
    codec = {"": "ascii", "UNICODE UTF-8": "utf-8", "8859/1": "latin-1", "8859/2": "iso8859-2"}[charset]
    ack = build_ack(header, "AA").encode(codec)
    assert ack.split(b"\r")[1] == b"MSA|AA|" + control_id


def test_it_echoes_a_non_ascii_and_an_escaped_control_id_over_the_socket(listener):
    utf8 = orm(control_id="ÜBER-1", charset="UNICODE UTF-8", placer="PL-UB", accession="ACC-UB")
    escaped = orm(control_id="A\\T\\B3", placer="PL-ES", accession="ACC-ES")
    acks = send(listener, utf8, escaped)
    assert acks[0].split(b"\r")[1] == "MSA|AA|ÜBER-1".encode()
    assert acks[1].split(b"\r")[1] == b"MSA|AA|A\\T\\B3"


# --- item 8: a NUL character is a permanent input error on both databases ----------------------------------------

@pytest.mark.parametrize("text, where", [
    ("MSH|^~\\&|RIS\rPID|1||X^^^H||DOE\x00^JANE\r", ("PID", 1, 5, 1)),
    ("MSH|^~\\&|RIS\rOBR|1\rOBR|2|P2|^F\x00\r", ("OBR", 2, 3, 2)),
    ("MSH|^~\\&|RIS\rPID|1||A~B^^^H\x00\r", ("PID", 1, 3, 4)),
    ("MSH|^~\\&|RI\x00S\r", ("MSH", 1, 3, 1)),
    ("MSH|^~\\&|RIS\rPID|1\r", None),
])
def test_it_locates_the_first_nul_character(text, where):
    header = read_header(text.encode("latin-1"))
    assert locate_nul(text, header) == where


def test_it_answers_ae_102_for_a_nul_in_a_value_and_applies_nothing(listener, caplog):
    message = orm(placer="PL-NUL", accession="ACC-NUL", patient=pid("PAT-NUL", name="DOE\x00^JANE"))
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AE", "102")
    assert err(ack)[1].startswith("PID^1^5")
    assert not ImagingOrder.objects.exists() and not Patient.objects.exists()
    row = problems.rejected_messages().get()
    assert (row.error_code, row.error_location, bytes(row.raw)) == ("102", "PID-5.1", message)
    assert no_tracebacks(caplog)


def test_it_keeps_the_row_of_a_nul_in_the_patient_id_and_finds_it_by_that_id(listener, caplog):
    """The log's search keys are read from the raw bytes: a NUL in PID-3 is dropped, not stored (PostgreSQL)."""
    message = orm(placer="PL-NUL3", accession="ACC-NUL3", patient=pid("PAT\x00NUL3"))
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AE", "102")
    row = problems.rejected_messages().get()
    assert (row.content_patient_id, row.content_accession, bytes(row.raw)) == ("PATNUL3", "ACC-NUL3", message)
    assert no_tracebacks(caplog)


def test_it_answers_ae_102_for_a_nul_in_the_header_and_keeps_the_row(listener, caplog):
    message = orm(control_id="NUL\x00ID", placer="PL-NUL2", accession="ACC-NUL2")
    ack = send_one(listener, message)
    assert (msa(ack)[0], error_code(ack)) == ("AE", "102")
    row = problems.rejected_messages().get()
    assert row.control_id == "NULID" and bytes(row.raw) == message
    assert no_tracebacks(caplog)
