"""HL7 round trip: orders placed over a real MLLP socket, the status message sent to a RIS listener in the test.
The start times the RIS receives are the order's local times with the right offset, on both sides of each DST
switch; the message and transaction times carry the offset too."""
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from broker.core.hl7v2.mllp import MLLPClient
from broker.hl7.server import start_server
from broker.outbound import notifying, services
from broker.outbound.models import RisEndpoint
from tests.hl7.support import msa, omi, orm
from tests.mpps.support import segment
from worklist.models import ImagingOrder

pytestmark = pytest.mark.django_db(transaction=True)

# (local time as the RIS sends it without an offset, what it must get back)
BERLIN_TIMES = [
    ("20260329013000", "20260329013000+0100"),  # the last half hour of winter time
    ("20260329033000", "20260329033000+0200"),  # the first of summer time
    ("20261025013000", "20261025013000+0200"),
    ("20261025033000", "20261025033000+0100"),
    ("20261204", "20261204"),  # a date alone comes back as a date alone
]


@pytest.fixture
def mllp(transactional_db):
    running = start_server("127.0.0.1", 0, block=False)
    yield running
    running.shutdown()


def place(mllp, message: bytes) -> None:
    with MLLPClient("127.0.0.1", mllp.port, timeout=30) as client:
        assert msa(client.send(message))[0] == "AA"


def tell_the_ris(accession: str, ris) -> str:
    """Complete the order, queue and deliver its status message; the message as the RIS received it."""
    order = ImagingOrder.objects.get(accession_number=accession)
    order.status = ImagingOrder.Status.COMPLETED
    order.save()
    before = len(ris.messages())
    notification, = services.queue_notifications(order)
    assert notifying.deliver(notification.pk).sent
    return ris.messages()[before]


def check_stamps(message: str) -> None:
    """MSH-7, ORC-9 and OBR-22: now, as the department's wall-clock time with its offset."""
    for stamp in (segment(message, "MSH")[7], segment(message, "ORC")[9], segment(message, "OBR")[22]):
        moment = datetime.strptime(stamp, "%Y%m%d%H%M%S%z")
        assert moment.utcoffset() == timezone.localtime().utcoffset()
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


@pytest.mark.parametrize("sent, expected", BERLIN_TIMES)
def test_the_ris_gets_the_orders_local_start_with_its_offset_in_orc_7_and_obr_27(mllp, ris, sent, expected):
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, timeout_seconds=5)
    place(mllp, orm(accession="RT-ORM", start=sent))  # v2.3.1: the start goes in ORC-7.4, the answer is an ORM
    received = tell_the_ris("RT-ORM", ris)
    assert segment(received, "MSH")[9] == "ORM^O01"
    assert segment(received, "ORC")[7].split("^")[3] == expected
    assert segment(received, "OBR")[27].split("^")[3] == expected
    check_stamps(received)


@pytest.mark.parametrize("sent, expected", BERLIN_TIMES)
def test_the_ris_gets_the_orders_local_start_with_its_offset_in_tq1_7(mllp, ris, sent, expected):
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, timeout_seconds=5)
    place(mllp, omi(accession="RT-OMI", start=sent))  # v2.5.1: TQ1-7, and an OMI back
    received = tell_the_ris("RT-OMI", ris)
    assert segment(received, "MSH")[9] == "OMI^O23^OMI_O23"
    assert segment(received, "TQ1")[7] == expected
    check_stamps(received)


def test_a_time_sent_with_another_offset_comes_back_in_the_departments_time(mllp, ris):
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, timeout_seconds=5)
    place(mllp, omi(accession="RT-NY", start="20260715033000-0400"))  # 07:30 UTC
    assert segment(tell_the_ris("RT-NY", ris), "TQ1")[7] == "20260715093000+0200"


@override_settings(TIME_ZONE="America/New_York")
def test_the_department_zone_is_djangos_time_zone(mllp, ris):
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, timeout_seconds=5)
    place(mllp, omi(accession="RT-EDT", start="20261101013000"))  # New York's repeated hour: the first, EDT
    place(mllp, omi(accession="RT-EST", placer="PL-EST", start="20261101030000",
                    ipcs=[("RP1", "1.2.3.4.2", "SPS1", "CT", "CT01")]))
    assert segment(tell_the_ris("RT-EDT", ris), "TQ1")[7] == "20261101013000-0400"
    received = tell_the_ris("RT-EST", ris)
    assert segment(received, "TQ1")[7] == "20261101030000-0500"
    check_stamps(received)
