"""Fixtures of the IAN tests: a real IAN SCP."""
import pytest

from tests.availability.support import IanScp
from tests.mpps.support import running


@pytest.fixture
def ian_scp():
    with running(IanScp()) as scp:
        yield scp
