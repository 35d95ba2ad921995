"""Messages sent over a real MLLP socket, aged, purged: what the dashboard still needs stays, /metrics keeps counting."""
import pytest

from broker.core.hl7v2.mllp import MLLPClient
from broker.hl7.models import HL7Message
from broker.hl7.server import start_server
from broker.retention import purge
from tests.hl7.support import msa, msh, orm, pid
from tests.retention.support import age, scrape
from worklist.models import ImagingOrder


@pytest.fixture
def listener(transactional_db):
    running = start_server("127.0.0.1", 0, block=False)
    yield running
    running.shutdown()


def test_it_purges_what_intake_logged_except_what_is_still_needed(listener, client, settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    unsupported = ("\r".join([msh("ZZZ^Z01", "BAD0001"), pid()]) + "\r").encode()
    with MLLPClient("127.0.0.1", listener.port, timeout=30) as mllp:
        acks = [mllp.send(orm("NW", placer="PLA", accession="ACCA", control_id="A1")),
                mllp.send(orm("CA", placer="PLA", accession="ACCA", control_id="A2")),
                mllp.send(orm("NW", placer="PLB", accession="ACCB", control_id="B1")),
                mllp.send(unsupported)]
    assert [msa(ack)[0] for ack in acks] == ["AA", "AA", "AA", "AR"]
    assert ImagingOrder.objects.get(accession_number="ACCA").status == ImagingOrder.Status.CANCELED
    for message in HL7Message.objects.all():
        age(message, 200)
    before = scrape(client)

    assert purge.run().deleted["hl7"] == 2

    kept = dict(HL7Message.objects.values_list("control_id", "outcome"))
    assert kept == {"B1": "AA", "BAD0001": "AR"}  # the open order's latest message, the unresolved refusal
    after = scrape(client)
    assert after['broker_hl7_messages_total{message_type="ORM^O01",ack_code="AA"}'] == 3
    assert after['broker_hl7_messages_total{message_type="other",ack_code="AR"}'] == 1
    assert {k: v for k, v in after.items() if k.startswith("broker_hl7")} == \
        {k: v for k, v in before.items() if k.startswith("broker_hl7")}
    assert after['broker_retention_purged_total{kind="hl7"}'] == 2
