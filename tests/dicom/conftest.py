"""Fixtures of the dicom tests."""
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection

from broker.dicom import db_work
from broker.dicom import listener as dicom_listener
from broker.dicom.models import RemoteAE
from tests.services import free_port


@pytest.fixture
def port(transactional_db, storage_dir, memory_celery):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def echo_only(port):
    RemoteAE.objects.create(ae_title="ECHOONLY", allowed_services=["echo"])
    return port


@pytest.fixture
def server(transactional_db):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server
    server.shutdown()


@pytest.fixture
def two_processes(database_url_for_subprocess, dcmtk):
    """`rundicom --processes 2` as a real process: (port, [pid of each listener process], the process)."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess, BROKER_DATA_DIR=str(django_settings.DATA_DIR))
    proc = subprocess.Popen([sys.executable, "manage.py", "rundicom", "--host", "127.0.0.1", "--port", str(port),
                             "--processes", "2"], cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        ready = re.search(r"DICOM listener ready on [\d.]+:(\d+) \(pid ([\d ]+)\)", proc.stdout.readline())
        assert ready, proc.stderr.read() if proc.poll() is not None else "no ready line"
        yield int(ready.group(1)), [int(pid) for pid in ready.group(2).split()], proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture
def workers(transactional_db, settings):
    if not connection.settings_dict.get("CONN_HEALTH_CHECKS"):
        pytest.skip("database connection health checks are off (SQLite)")
    db_work.shutdown()
    settings.BROKER_DICOM_DB_THREADS = 1  # one worker: each unit runs after the previous one's check
    yield db_work
    db_work.shutdown()
