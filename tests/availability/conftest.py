"""Fixtures of the IAN tests: a real IAN SCP, and the routing area's real Celery worker on Redis."""
import pytest

from tests.availability.support import IanScp
from tests.mpps.support import running
from tests.routing.conftest import celery_worker_factory, redis_db  # noqa: F401  (shared fixtures)


@pytest.fixture
def ian_scp():
    with running(IanScp()) as scp:
        yield scp
