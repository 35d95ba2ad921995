"""Shared test fixtures: services the suite needs, and helpers to run real listeners."""
import os
import shutil
import socket

import pytest

# In CI every external part must be there: a missing one fails the run instead of skipping.
REQUIRE_SERVICES = os.environ.get("BROKER_TEST_REQUIRE_SERVICES", "") == "1"


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (BROKER_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def dcmtk():
    """The DCMTK tools as independent DICOM peers."""
    if shutil.which("findscu") is None:
        _missing("DCMTK is not installed (apt-get install dcmtk)")
    return shutil.which


@pytest.fixture
def redis_url():
    url = os.environ.get("BROKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    if not port_open(host, int(port)):
        _missing(f"no Redis server at {host}:{port}")
    return url


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("Debian's chromium is not installed (apt-get install chromium)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database_url_for_subprocess(transactional_db):
    """DATABASE_URL that points a child process (a listener under test) at the test database."""
    from django.db import connection

    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or "postgres"
    host = conf.get("HOST") or "127.0.0.1"
    port = conf.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{conf['NAME']}"
