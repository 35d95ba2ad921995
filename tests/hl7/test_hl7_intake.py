"""broker.hl7.intake.receive() called directly, as the dashboard's replay does: Receipt, log row, ACK bytes."""
import pytest

from broker.hl7.intake import Receipt, receive
from broker.hl7.models import HL7Message
from tests.hl7.support import error_code, msa, orm, sample, segments_of
from worklist.models import ImagingOrder

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_returns_the_ack_and_the_stored_row():
    receipt = receive(sample("orm_o01_v231_nw_utf8.hl7"), "10.1.2.3:4000")
    assert isinstance(receipt, Receipt) and msa(receipt.ack) == ("AA", "AGF000123")
    row = HL7Message.objects.get(pk=receipt.message.pk)
    assert (row.peer, row.message_type, row.outcome, row.raw_size) == \
           ("10.1.2.3:4000", "ORM^O01", "AA", len(sample("orm_o01_v231_nw_utf8.hl7")))
    assert row.order.accession_number == "ACC1001" and row.patient.patient_id == "4711"
    assert row.processing_ms is not None and row.received_at is not None


def test_it_replays_an_accepted_message_as_a_repeat():
    first = receive(sample("orm_o01_v231_nw_latin1.hl7"), "ris:1")
    replay = receive(bytes(first.message.raw), "dashboard")
    assert replay.ack == first.ack  # byte for byte, in the sender's ISO 8859-1
    assert replay.message.duplicate_of_id == first.message.pk
    assert ImagingOrder.objects.count() == 1


def test_it_applies_a_replayed_message_that_failed_before():
    failed = receive(orm(control="CA", status="CA", placer="P1", accession="A1", control_id="CA-7"), "ris:1")
    assert (msa(failed.ack)[0], error_code(failed.ack)) == ("AE", "204")
    receive(orm(placer="P1", accession="A1"), "ris:1")
    replay = receive(bytes(failed.message.raw), "dashboard")
    assert msa(replay.ack)[0] == "AA"
    assert ImagingOrder.objects.get().status == "CANCELED"


def test_it_encodes_the_ack_in_the_senders_character_set():
    raw = orm(charset="8859/1", accession="").replace(b"DOE^JANE", "Gärtner^Sören".encode("latin-1"))
    receipt = receive(raw, "ris:1")
    assert segments_of(receipt.ack)["MSH"][17] == "8859/1"
    assert receipt.ack.decode("latin-1") == receipt.message.ack
