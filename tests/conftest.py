"""Fixtures shared by several areas: the external services (DCMTK, Redis, Chromium), the test database as a URL for
child processes, and the broker's DICOM listener with its storage directory (dicom, storage and routing tests)."""
import os
import shutil

import pytest

from tests.certificates import CertificateAuthority
from tests.routing.support import StoreSCP, point_celery_at
from tests.services import missing, port_open


@pytest.fixture
def dcmtk():
    """The DCMTK tools as independent DICOM peers."""
    if shutil.which("findscu") is None:
        missing("DCMTK is not installed (apt-get install dcmtk)")
    return shutil.which


@pytest.fixture
def redis_url():
    url = os.environ.get("BROKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    if not port_open(host, int(port)):
        missing(f"no Redis server at {host}:{port}")
    return url


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        missing("Debian's chromium is not installed (apt-get install chromium)")
    return path


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


@pytest.fixture
def storage_dir(settings, tmp_path):
    settings.BROKER_STORAGE_DIR = tmp_path / "storage"
    return settings.BROKER_STORAGE_DIR


@pytest.fixture
def memory_celery():
    """Tasks enqueued by the code under test go to an in-memory transport nobody consumes."""
    previous = point_celery_at("memory://")
    yield
    point_celery_at(previous)


@pytest.fixture
def broker_listener(transactional_db, storage_dir, dcmtk, memory_celery):
    """The broker's DICOM listener in this process on a free port; yields the port."""
    from broker.dicom import listener

    server = listener.start("127.0.0.1", 0)
    yield server.server_address[1]
    server.shutdown()
    StoreSCP.stop_all()


@pytest.fixture
def ca(tmp_path):
    """A certificate authority made for this test (its key, certificate and the certificates it signs)."""
    return CertificateAuthority(tmp_path / "ca")
