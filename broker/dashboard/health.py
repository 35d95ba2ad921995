"""The checks behind /healthz: database, task broker, and the two listeners (TCP connect, C-ECHO)."""
import os
import socket
from pathlib import Path

from django.conf import settings
from django.db import connection
from pynetdicom.sop_class import Verification

from broker.core import identity


class Unhealthy(Exception):
    """A check failed; the message says what a person should look at."""


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_task_broker() -> None:
    url = settings.CELERY_BROKER_URL
    timeout = settings.BROKER_HEALTH_TIMEOUT
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise Unhealthy(f"Redis at {_without_password(url)} does not answer PING: {exc}") from exc
        finally:
            client.close()
    elif url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise Unhealthy(f"queue folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise Unhealthy(f"queue folder {folder} is not writable")
    else:
        from kombu import Connection

        with Connection(url, connect_timeout=timeout) as conn:
            try:
                conn.ensure_connection(max_retries=1)
            except Exception as exc:
                raise Unhealthy(f"task broker {_without_password(url)} unreachable: {exc}") from exc


def _tcp_connect(port: int, what: str) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=settings.BROKER_HEALTH_TIMEOUT):
            pass
    except OSError as exc:
        raise Unhealthy(f"{what} on 127.0.0.1:{port} refuses connections: {exc.strerror or exc}") from exc


def check_dicom_listener() -> None:
    port = settings.BROKER_DICOM_PORT
    _tcp_connect(port, "DICOM listener")
    ae = identity.application_entity(settings.BROKER_HEALTH_CALLING_AE)
    ae.add_requested_context(Verification)
    timeout = settings.BROKER_HEALTH_TIMEOUT
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    assoc = ae.associate("127.0.0.1", port, ae_title=settings.BROKER_AE_TITLE)
    if not assoc.is_established:
        outcome = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
        raise Unhealthy(f"DICOM listener on 127.0.0.1:{port}: association for C-ECHO {outcome}")
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        code = f"0x{status.Status:04X}" if status else "no response"
        raise Unhealthy(f"DICOM listener on 127.0.0.1:{port}: C-ECHO answered {code}")


def check_hl7_listener() -> None:
    _tcp_connect(settings.BROKER_HL7_PORT, "HL7 listener")


CHECKS = {
    "database": check_database,
    "task_broker": check_task_broker,
    "dicom_listener": check_dicom_listener,
    "hl7_listener": check_hl7_listener,
}


def run_checks(names) -> dict[str, str]:
    """{"database": "ok", "dicom_listener": "error: ...", ...} for the configured checks, in order."""
    results = {}
    for name in names:
        check = CHECKS.get(name)
        if check is None:
            results[name] = "error: unknown check (see BROKER_HEALTH_CHECKS)"
            continue
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # the endpoint reports every failure, it never raises
            results[name] = f"error: {exc}"
    return results


def _without_password(url: str) -> str:
    if "@" in url and "//" in url:
        scheme, rest = url.split("//", 1)
        return f"{scheme}//***@{rest.split('@', 1)[1]}"
    return url
