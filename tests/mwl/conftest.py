"""Fixtures of the mwl tests."""
import pytest

from broker.dicom import listener as dicom_listener
from broker.hl7 import server as intake_server


@pytest.fixture
def port(transactional_db):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def listeners(transactional_db, dcmtk):
    dicom = dicom_listener.start("127.0.0.1", 0)
    mllp = intake_server.start_server("127.0.0.1", 0, block=False)
    yield mllp.port, dicom.server_address[1]
    mllp.shutdown()
    dicom.shutdown()


@pytest.fixture
def server(transactional_db):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server
    server.shutdown()
