"""Fixtures of the outbound tests."""
import pytest

from broker.outbound.models import MppsDestination, RisEndpoint
from tests.mpps.support import RecordingMppsScp, RisServer, running


@pytest.fixture
def downstream():
    with running(RecordingMppsScp()) as scp:
        yield scp


@pytest.fixture
def ris():
    with running(RisServer()) as server:
        yield server


@pytest.fixture
def configured():
    MppsDestination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=1)
    MppsDestination.objects.create(name="DOSE", ae_title="DOSE", host="127.0.0.1", port=2)
    MppsDestination.objects.create(name="OFF", ae_title="OFF", host="127.0.0.1", port=3, enabled=False)
    RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=4)
