"""Fixtures of the dashboard tests."""
import socket
import threading

import pytest
from django.test import Client

from broker.dicom import listener
from broker.dicom.models import RemoteAE
from broker.hl7.models import HL7Sender
from broker.routing.models import DeliveredInstance, RejectedInstance, RoutingRule
from mpps.models import MppsRequest
from tests.dashboard.support import (
    make_forward,
    make_hl7_message,
    make_job,
    make_notification,
    make_performed_step,
    make_query,
    make_user,
    scheduled_order,
    worklist_identifier,
)
from tests.factories import make_patient
from tests.services import free_port
from worklist.models import StationAssignmentRule


@pytest.fixture
def operator(client):
    client.force_login(make_user("operator"))


@pytest.fixture
def rows():
    order, _ = scheduled_order(patient=make_patient(name="MÜLLER^JÜRGEN"))
    make_hl7_message("AR", order=order)
    make_query()
    job = make_job()
    DeliveredInstance.objects.create(job=job, instance=job.study.instances.first())
    rule = RoutingRule.objects.create(name="CT to PACS", match_modality="CT")
    rule.destinations.add(job.destination)
    RemoteAE.objects.create(ae_title="CT01", host="10.0.0.21", port=104)
    HL7Sender.objects.create(name="RIS", source="10.0.0.0/24", sending_application="RIS")
    RejectedInstance.objects.create(calling_ae="US01", sop_instance_uid="1.2.9", status=0xA700, error_comment="disk full")
    StationAssignmentRule.objects.create(match_modality="CT", station_ae_titles="CT01,CT02")
    make_notification(order=order)
    make_forward()
    performed = make_performed_step()
    performed.series.create(series_instance_uid="1.2.3", image_count=4)
    MppsRequest.objects.create(operation="N-CREATE", sop_instance_uid=performed.sop_instance_uid, calling_ae="CT01",
                               performed_step=performed, dataset=worklist_identifier())
    return order


@pytest.fixture
def tcp_listener():
    """A plain TCP server that accepts and closes connections (stands in for the MLLP port, or a wrong service)."""
    servers = []

    def start():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        servers.append((sock, stop))
        return sock.getsockname()[1]

    yield start
    for sock, stop in servers:
        stop.set()
        sock.close()


@pytest.fixture
def dicom_listener(settings, transactional_db):
    # The listener's threads use their own database connections (they note the calling AE): the test's data
    # must be committed, and no test transaction may hold SQLite's write lock while they work.
    server = listener.start(host="127.0.0.1", port=free_port())
    settings.BROKER_DICOM_PORT = server.server_address[1]
    yield server
    server.shutdown()


@pytest.fixture
def all_checks(settings):
    settings.BROKER_HEALTH_CHECKS = ["database", "task_broker", "dicom_listener", "hl7_listener"]
    settings.BROKER_HEALTH_TIMEOUT = 2.0


@pytest.fixture
def viewer(client):
    user = make_user("viewer")
    client.force_login(user)
    return user


@pytest.fixture
def staff():
    client = Client(raise_request_exception=False)  # a fault must show as the 500 a user would get
    client.force_login(make_user("viewer"))
    return client


# Chromium as the probe of this machine starts it: headless, no sandbox (root), no background networking.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser(chromium_path, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
