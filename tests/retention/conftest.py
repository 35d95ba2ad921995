"""Fixtures of the retention tests."""
import pytest

from tests.retention.support import METRICS_TOKEN


@pytest.fixture(autouse=True)
def metrics_token(settings):
    """/metrics as production runs it: behind the bearer token."""
    settings.BROKER_METRICS_TOKEN = METRICS_TOKEN
