"""Fixtures of the storage commitment tests: the broker's listener (tests/conftest.py), the modality's listener, and
the routing area's real Celery worker on Redis."""
import pytest

from broker.dicom.models import RemoteAE
from tests.commitment.support import ModalityListener
from tests.routing.conftest import celery_worker_factory, redis_db  # noqa: F401  (shared fixtures)


@pytest.fixture
def modality_listener(transactional_db):
    """The modality's SCP, registered as the RemoteAE's host and port: where a report goes on a new association."""
    scp = ModalityListener().start()
    RemoteAE.objects.create(ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    yield scp
    scp.stop()


@pytest.fixture
def quick(settings):
    """No hold before the same-association report, and a short wait for instances still arriving."""
    settings.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 0
    settings.BROKER_COMMITMENT_WAIT_SECONDS = 30
    return settings
