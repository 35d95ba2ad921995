"""Fixtures of the mpps tests."""
import pytest

from broker.dicom import listener
from tests.factories import make_order, make_procedure, make_step
from tests.mpps.support import Modality
from tests.services import free_port


@pytest.fixture
def modality():
    server = listener.start("127.0.0.1", free_port())
    with Modality(server.server_address[1]) as scu:
        yield scu
    server.shutdown()


@pytest.fixture
def order_with_two_modalities():
    order = make_order()
    procedure = make_procedure(order)
    ct = make_step(procedure, modality="CT")
    mr = make_step(procedure, modality="MR")
    return order, procedure, ct, mr


@pytest.fixture
def broker_port():
    server = listener.start("127.0.0.1", free_port())
    yield server.server_address[1]
    server.shutdown()
