"""The project starts: settings, health endpoint, database engine in use."""
import pytest
from django.db import connection

from broker.core.env import ConfigurationError, env_bool, env_int


def test_it_reports_healthy_database(client, db, settings):
    settings.BROKER_HEALTH_CHECKS = ["database"]  # the listeners' checks are tested in test_dashboard_health.py
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_it_fails_loudly_on_a_bad_integer(monkeypatch):
    monkeypatch.setenv("BROKER_DICOM_PORT", "eleven")
    with pytest.raises(ConfigurationError, match="BROKER_DICOM_PORT='eleven' is not a whole number"):
        env_int("BROKER_DICOM_PORT", 11112)


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("BROKER_REQUIRE_KNOWN_AE", "yes")
    assert env_bool("BROKER_REQUIRE_KNOWN_AE", False) is True
    monkeypatch.setenv("BROKER_REQUIRE_KNOWN_AE", "maybe")
    with pytest.raises(ConfigurationError):
        env_bool("BROKER_REQUIRE_KNOWN_AE", False)


def test_it_uses_wal_on_sqlite(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
