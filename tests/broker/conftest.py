"""Fixtures of the broker tests."""
import pytest

from broker.dashboard import internal_errors
from broker.dicom import listener as dicom_listener
from broker.dicom.services import mwl


@pytest.fixture
def dicom_port(transactional_db, monkeypatch):
    monkeypatch.setattr(internal_errors, "PROCESS_KIND", "dicom")  # as in `manage.py rundicom`

    def broken_query(*args, **kwargs):
        raise RuntimeError("injected bug in the worklist query")

    monkeypatch.setattr(mwl, "run_query", broken_query)  # stands in for a bug in the domain code
    server = dicom_listener.start("127.0.0.1", 0)
    yield server.server_address[1]
    server.shutdown()
