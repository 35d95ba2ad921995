"""/healthz: the database, the task broker and both listeners, with the failing part named."""

import pytest

from tests.services import free_port

pytestmark = pytest.mark.django_db








def test_it_is_healthy_when_everything_answers(client, all_checks, settings, dicom_listener, tcp_listener):
    settings.BROKER_HL7_PORT = tcp_listener()
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "task_broker": "ok", "dicom_listener": "ok", "hl7_listener": "ok"}


def test_it_names_a_dicom_listener_that_is_down(client, all_checks, settings, tcp_listener):
    settings.BROKER_HL7_PORT = tcp_listener()
    settings.BROKER_DICOM_PORT = free_port()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["dicom_listener"]
    assert body["dicom_listener"].startswith(f"error: DICOM listener on 127.0.0.1:{settings.BROKER_DICOM_PORT} refuses connections")


def test_it_fails_when_the_dicom_port_does_not_speak_dicom(client, all_checks, settings, tcp_listener):
    settings.BROKER_HL7_PORT = tcp_listener()
    settings.BROKER_DICOM_PORT = tcp_listener()
    settings.BROKER_HEALTH_TIMEOUT = 1.0
    body = client.get("/healthz").json()
    assert body["failing"] == ["dicom_listener"]
    assert "association for C-ECHO" in body["dicom_listener"]


def test_it_names_an_hl7_listener_that_is_down(client, all_checks, settings, dicom_listener):
    settings.BROKER_HL7_PORT = free_port()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["hl7_listener"]
    assert f"HL7 listener on 127.0.0.1:{settings.BROKER_HL7_PORT}" in response.json()["hl7_listener"]


def test_it_pings_redis_when_celery_uses_it(client, settings, redis_url):
    settings.BROKER_HEALTH_CHECKS = ["database", "task_broker"]
    settings.CELERY_BROKER_URL = redis_url
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "task_broker": "ok"}


def test_it_names_an_unreachable_redis(client, settings):
    settings.BROKER_HEALTH_CHECKS = ["database", "task_broker"]
    settings.CELERY_BROKER_URL = f"redis://:secret@127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    message = response.json()["task_broker"]
    assert message.startswith("error: Redis at redis://***@127.0.0.1:") and "does not answer PING" in message
    assert "secret" not in message


def test_it_checks_the_queue_folder_of_the_embedded_transport(client, settings, tmp_path):
    settings.BROKER_HEALTH_CHECKS = ["task_broker"]
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone"), "data_folder_out": str(tmp_path / "gone")}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["task_broker"] == f"error: queue folder {tmp_path / 'gone'} does not exist"


def test_it_needs_no_log_in(client, settings):
    settings.BROKER_HEALTH_CHECKS = ["database"]
    assert client.get("/healthz").status_code == 200
