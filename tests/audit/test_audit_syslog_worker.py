"""The syslog outbox with a real Redis-backed Celery worker process: the repository down first, then up; the
worker's sweep and retries deliver every event, in order, over mutual TLS."""
import pytest
from django.test import override_settings

from broker.audit.models import AuditEvent, AuditForward
from broker.core.work_queue import WorkState
from tests.audit.syslog_receiver import StreamReceiver
from tests.audit.test_audit_syslog_forwarding import expected_xml, hl7_orders, parse, pki, repository_context  # noqa: F401
from tests.outbound.test_outbound_worker import Processes
from tests.services import free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture
def worker(database_url_for_subprocess, redis_url, tmp_path, pki):  # noqa: F811
    import os

    cert, key = pki["broker"]
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess, CELERY_BROKER_URL=redis_url,
               BROKER_OUTBOUND_RETRY_BASE_SECONDS="0.5", BROKER_OUTBOUND_RETRY_MAX_SECONDS="2",
               BROKER_OUTBOUND_SWEEP_SECONDS="1", BROKER_OUTBOUND_STUCK_SECONDS="5",
               BROKER_OUTBOUND_PENDING_GRACE_SECONDS="2", BROKER_LOG_LEVEL="INFO",
               BROKER_AUDIT_SYSLOG_CA_FILE=str(pki["ca"]), BROKER_AUDIT_SYSLOG_CERT_FILE=str(cert),
               BROKER_AUDIT_SYSLOG_KEY_FILE=str(key))
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    procs = Processes(env, tmp_path)
    try:
        procs.start_worker()
        yield procs
    finally:
        procs.stop_all()
        print(procs.log_text())


def test_the_worker_delivers_what_was_queued_while_the_repository_was_down(worker, pki, memory_celery):  # noqa: F811
    port = free_port()
    # The rows' tasks go to a memory transport nobody reads: the worker's sweep finds them (their grace passed).
    with override_settings(BROKER_AUDIT_SYSLOG=f"tls://localhost:{port}"):
        hl7_orders(3)
    rows = list(AuditForward.objects.order_by("pk"))
    assert len(rows) == AuditEvent.objects.count() >= 3
    wait_until(lambda: AuditForward.objects.filter(pk=rows[0].pk, state=WorkState.FAILED, attempts__gte=2).exists(),
               timeout=60, message="the first forward to fail and be retried")
    first = AuditForward.objects.get(pk=rows[0].pk)
    assert "refused" in first.last_error.lower()
    assert not AuditForward.objects.filter(state=WorkState.SENT).exists()

    with StreamReceiver(port=port, context=repository_context(pki)) as repository:
        wait_until(lambda: len(repository.messages) == len(rows), timeout=60,
                   message=f"every event at the repository ({repository.errors})")
    assert [parse(m)[1] for m in repository.messages] == [
        expected_xml(AuditEvent.objects.get(pk=r.event_id)) for r in rows]
    wait_until(lambda: set(AuditForward.objects.values_list("state", flat=True)) == {WorkState.SENT}, timeout=30)
