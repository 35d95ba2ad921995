"""Who may send HL7 (issue 9): sender rules by address, network and MSH-3/MSH-4, over the real MLLP socket.

A refused sender gets AR with ERR 207 saying what it sent and which rule would let it in; its message is in the
log as refused and nothing of it is applied, while an allowed sender on another connection is served meanwhile.
"""
import logging
import socket
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from broker.core.hl7v2.mllp import FrameDecoder, frame
from broker.hl7 import intake
from broker.hl7.models import HL7Message, HL7Sender
from tests.dashboard.support import make_user
from tests.hl7.support import err, error_code, msa, orm, segments_of
from worklist.models import ImagingOrder


@pytest.fixture
def required(settings):
    settings.BROKER_HL7_REQUIRE_KNOWN_SENDER = True


class Sender:
    """An MLLP client bound to a chosen loopback source address (Linux routes all of 127.0.0.0/8 to lo)."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.decoder = FrameDecoder(1024 * 1024)

    def send(self, message: bytes) -> bytes:
        self.sock.sendall(frame(message))
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection before replying")
            replies = self.decoder.feed(chunk)
            if replies:
                return replies[0]

    def close(self):
        self.sock.close()


def send_from(listener, message: bytes, source: str = "127.0.0.1") -> bytes:
    sender = Sender(listener.port, source)
    try:
        return sender.send(message)
    finally:
        sender.close()


def order_exists(accession: str) -> bool:
    return ImagingOrder.objects.filter(accession_number=accession).exists()


# --- off by default ------------------------------------------------------------------------------------------------

def test_it_applies_messages_from_anyone_when_the_setting_is_off(listener):
    assert not HL7Sender.objects.exists()
    ack = send_from(listener, orm(accession="OFF1", app="ANY_RIS"), source="127.0.0.9")
    assert msa(ack)[0] == "AA"
    assert order_exists("OFF1")


# --- allowed ---------------------------------------------------------------------------------------------------------

def test_it_allows_a_sender_by_address(listener, required):
    HL7Sender.objects.create(name="RIS", source="127.0.0.1")
    assert msa(send_from(listener, orm(accession="ADDR1")))[0] == "AA"
    assert order_exists("ADDR1")


def test_it_allows_a_sender_by_network(listener, required):
    HL7Sender.objects.create(name="RIS-NET", source="127.0.0.0/29")
    assert msa(send_from(listener, orm(accession="NET1"), source="127.0.0.5"))[0] == "AA"
    assert order_exists("NET1")


def test_it_allows_a_sender_by_msh3_and_msh4(listener, required):
    HL7Sender.objects.create(name="RIS", source="127.0.0.1", sending_application="TEST_RIS", sending_facility="HOSP")
    assert msa(send_from(listener, orm(accession="APP1", app="TEST_RIS")))[0] == "AA"
    assert order_exists("APP1")


def test_it_matches_the_namespace_id_of_a_hierarchic_msh3(listener, required):
    HL7Sender.objects.create(name="RIS", source="127.0.0.1", sending_application="TEST_RIS")
    assert msa(send_from(listener, orm(accession="HD1", app="TEST_RIS^1.2.3^ISO")))[0] == "AA"


# --- refused ---------------------------------------------------------------------------------------------------------

def test_it_refuses_an_unknown_address_with_an_ar_that_says_why(listener, required, caplog):
    HL7Sender.objects.create(name="RIS", source="127.0.0.1")
    message = orm(accession="ROGUE1", control_id="ROGUE0001")
    with caplog.at_level(logging.WARNING, logger="broker.hl7.intake"):
        ack = send_from(listener, message, source="127.0.0.7")
    code, control_id = msa(ack)
    assert (code, control_id) == ("AR", "ROGUE0001")
    assert error_code(ack) == "207"
    reason = err(ack)[1]  # v2.3.1: ERR-1 location^code&text; the full reason is in MSA-3
    assert "207&Application internal error&HL70357" in reason
    text = segments_of(ack)["MSA"][3]
    assert text.startswith("Sender not allowed: 127.0.0.7 with MSH-3 'TEST_RIS' MSH-4 'HOSP'")
    assert not order_exists("ROGUE1")
    row = HL7Message.objects.get(control_id="ROGUE0001")
    assert (row.outcome, row.error_code, row.sender_refused) == ("AR", "207", True)
    assert bytes(row.raw) == message  # kept in the log exactly as received
    assert "needed: hl7senders add NAME --source 127.0.0.7 --application TEST_RIS --facility HOSP" in row.error_text
    assert row.peer.startswith("127.0.0.7:")
    assert any("AR ORM^O01 ROGUE0001 from 127.0.0.7" in r.getMessage() and "Sender not allowed" in r.getMessage()
               for r in caplog.records)


def test_it_says_the_whole_reason_in_err_8_for_v25_senders(listener, required):
    message = orm(accession="V25", control_id="V25REFUSED", version="2.5.1")
    ack = send_from(listener, message)
    fields = segments_of(ack)["ERR"]
    assert fields[3] == "207^Application internal error^HL70357"
    assert fields[8].startswith("Sender not allowed: 127.0.0.1 with MSH-3 'TEST_RIS' MSH-4 'HOSP' matches no HL7 "
                                "sender rule (BROKER_HL7_REQUIRE_KNOWN_SENDER)")
    assert not order_exists("V25")


def test_it_refuses_the_wrong_msh3_from_an_allowed_address(listener, required):
    HL7Sender.objects.create(name="RIS", source="127.0.0.1", sending_application="TEST_RIS", sending_facility="HOSP")
    ack = send_from(listener, orm(accession="WRONGAPP", app="OTHER_APP", control_id="WRONGAPP1"))
    assert (msa(ack)[0], error_code(ack)) == ("AR", "207")
    assert not order_exists("WRONGAPP")
    assert HL7Message.objects.get(control_id="WRONGAPP1").sender_refused


def test_a_disabled_rule_allows_nobody(listener, required):
    HL7Sender.objects.create(name="OLD-RIS", source="127.0.0.0/8", enabled=False)
    assert msa(send_from(listener, orm(accession="DIS1")))[0] == "AR"
    assert not order_exists("DIS1")


def test_it_serves_an_allowed_sender_while_refusing_another(listener, required):
    """Two connections held open at once, messages interleaved: each gets its own answer."""
    HL7Sender.objects.create(name="RIS", source="127.0.0.1", sending_application="TEST_RIS")
    good, bad = Sender(listener.port), Sender(listener.port, source="127.0.0.8")
    answers = {"good": [], "bad": []}
    try:
        for n in range(3):
            answers["bad"].append(msa(bad.send(orm(accession=f"BAD{n}", placer=f"PB{n}"))))
            answers["good"].append(msa(good.send(orm(accession=f"GOOD{n}", placer=f"PG{n}"))))
        # Both at the same moment, too.
        threads = [threading.Thread(target=lambda: answers["bad"].append(msa(bad.send(orm(accession="BAD9"))))),
                   threading.Thread(target=lambda: answers["good"].append(msa(good.send(orm(accession="GOOD9", placer="PG9")))))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        good.close()
        bad.close()
    assert [code for code, _ in answers["good"]] == ["AA"] * 4
    assert [code for code, _ in answers["bad"]] == ["AR"] * 4
    assert sorted(ImagingOrder.objects.values_list("accession_number", flat=True)) == ["GOOD0", "GOOD1", "GOOD2", "GOOD9"]
    assert HL7Message.objects.filter(sender_refused=True).count() == 4


def test_a_refused_message_can_be_replayed_by_staff_once_its_sender_is_vouched_for(transactional_db, required):
    refused = intake.receive(orm(accession="REPLAY1", control_id="REPLAY1"), "127.0.0.3:5000")
    assert refused.message.sender_refused and not order_exists("REPLAY1")
    replayed = intake.receive(bytes(refused.message.raw), "replay", check_sender=False)
    assert replayed.message.outcome == "AA" and order_exists("REPLAY1")


def test_the_dashboard_lists_a_refused_sender(listener, required, client):
    send_from(listener, orm(accession="SEEN1", control_id="SEEN0001"), source="127.0.0.6")
    client.force_login(make_user("viewer"))
    page = client.get("/hl7/").content.decode()
    assert "SEEN0001" in page and "sender refused" in page
    row = HL7Message.objects.get(control_id="SEEN0001")
    detail = client.get(f"/hl7/{row.pk}/").content.decode()
    assert "Sender refused" in detail and "127.0.0.6" in detail


# --- the management command ----------------------------------------------------------------------------------------

def test_the_command_adds_lists_and_removes_rules(db, capsys):
    call_command("hl7senders", "add", "RIS", "--source", "10.1.2.0/24", "--application", "RIS", "--facility", "HOSP")
    call_command("hl7senders", "add", "BACKUP", "--source", "10.9.9.9", "--disabled")
    call_command("hl7senders", "list")
    out = capsys.readouterr().out
    assert "RIS\t10.1.2.0/24\tMSH-3 RIS\tMSH-4 HOSP" in out
    assert "BACKUP\t10.9.9.9\tMSH-3 *\tMSH-4 *\tdisabled" in out
    call_command("hl7senders", "enable", "BACKUP")
    assert HL7Sender.objects.get(name="BACKUP").enabled
    call_command("hl7senders", "remove", "RIS")
    assert list(HL7Sender.objects.values_list("name", flat=True)) == ["BACKUP"]


@pytest.mark.parametrize("argv, message", [
    (["add", "X", "--source", "10.1.2"], "--source: '10.1.2' is not an address (10.1.2.3) or a network (10.1.2.0/24)"),
    (["remove", "NOPE"], "no sender rule named NOPE"),
])
def test_the_command_refuses_bad_input(db, argv, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call_command("hl7senders", *argv)


def test_the_command_refuses_a_second_rule_of_the_same_name(db):
    call_command("hl7senders", "add", "RIS", "--source", "10.1.2.3")
    with pytest.raises(CommandError, match="sender rule RIS exists; remove it first"):
        call_command("hl7senders", "add", "RIS", "--source", "10.1.2.4")


# --- the admin -----------------------------------------------------------------------------------------------------

def test_the_admin_lists_adds_and_refuses_a_bad_source(db, admin_client):
    response = admin_client.post("/admin/hl7/hl7sender/add/", {"name": "RIS", "source": "not-an-address",
                                                              "sending_application": "", "sending_facility": "",
                                                              "enabled": "on", "description": ""})
    assert response.status_code == 200
    assert "is not an address (10.1.2.3) or a network" in response.content.decode()
    response = admin_client.post("/admin/hl7/hl7sender/add/", {"name": "RIS", "source": "10.0.0.0/8",
                                                              "sending_application": "RIS", "sending_facility": "",
                                                              "enabled": "on", "description": ""})
    assert response.status_code == 302
    page = admin_client.get("/admin/hl7/hl7sender/").content.decode()
    assert "RIS" in page and "10.0.0.0/8" in page


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_administrators_change_sender_rules(db, client, role):
    client.force_login(make_user(role))
    assert client.get("/admin/hl7/hl7sender/").status_code == 200  # every role sees them
    response = client.post("/admin/hl7/hl7sender/add/", {"name": "ROGUE", "source": "0.0.0.0/0", "enabled": "on"})
    assert response.status_code == 403
    assert not HL7Sender.objects.exists()
