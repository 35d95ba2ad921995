"""Fixtures of the hl7 tests."""
import pytest

from broker.core.db_threads import LastIdleFirstExecutor
from broker.hl7.server import start_server


@pytest.fixture
def listener(transactional_db):
    running = start_server("127.0.0.1", 0, block=False)
    yield running
    running.shutdown()


@pytest.fixture
def capped(transactional_db):
    running = start_server("127.0.0.1", 0, block=False, max_connections=5, max_connections_per_address=3)
    yield running
    running.shutdown()


@pytest.fixture
def pool():
    executor = LastIdleFirstExecutor(3, thread_name_prefix="test-pool")
    yield executor
    executor.shutdown(wait=True)
