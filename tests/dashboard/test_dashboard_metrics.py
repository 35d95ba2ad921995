"""/metrics: Prometheus text computed from the database."""
import re

import pytest

from broker.routing.models import RoutingJob
from tests.dashboard.support import (
    make_forward,
    make_hl7_message,
    make_job,
    make_notification,
    make_performed_step,
    make_query,
)

pytestmark = pytest.mark.django_db

SAMPLE = re.compile(r'^([a-z0-9_]+)(\{[^}]*\})? (\S+)$')


def scrape(client, **headers) -> dict[str, float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in response.content.decode().splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z0-9_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_it_counts_hl7_messages_by_type_and_ack_code(client):
    for _ in range(3):
        make_hl7_message("AA")
    make_hl7_message("AR")
    make_hl7_message("AA", message_type="ADT^A08")
    samples = scrape(client)
    assert samples['broker_hl7_messages_total{message_type="ORM^O01",ack_code="AA"}'] == 3
    assert samples['broker_hl7_messages_total{message_type="ORM^O01",ack_code="AR"}'] == 1
    assert samples['broker_hl7_messages_total{message_type="ADT^A08",ack_code="AA"}'] == 1


def test_it_reports_worklist_query_latency_as_a_histogram(client):
    for duration in (3, 8, 40, 700):
        make_query(duration_ms=duration)
    make_query(duration_ms=5, status=0xC000, match_count=0)
    samples = scrape(client)
    assert samples['broker_worklist_queries_total{outcome="success"}'] == 4
    assert samples['broker_worklist_queries_total{outcome="failure"}'] == 1
    assert samples['broker_worklist_query_duration_seconds_bucket{le="0.005"}'] == 2
    assert samples['broker_worklist_query_duration_seconds_bucket{le="0.05"}'] == 4
    assert samples['broker_worklist_query_duration_seconds_bucket{le="1.0"}'] == 5
    assert samples['broker_worklist_query_duration_seconds_bucket{le="+Inf"}'] == 5
    assert samples["broker_worklist_query_duration_seconds_count"] == 5
    assert samples["broker_worklist_query_duration_seconds_sum"] == pytest.approx(0.756)


def test_it_reports_mpps_by_status_and_routing_jobs_by_state(client):
    make_performed_step()
    make_performed_step(status="COMPLETED")
    make_performed_step(status="COMPLETED")
    make_job(state=RoutingJob.State.FAILED)
    make_job(state=RoutingJob.State.WAITING)
    make_job(state=RoutingJob.State.DONE)
    samples = scrape(client)
    assert samples['broker_mpps{status="COMPLETED"}'] == 2
    assert samples['broker_mpps{status="IN PROGRESS"}'] == 1
    assert samples['broker_mpps{status="DISCONTINUED"}'] == 0
    assert samples['broker_routing_jobs{state="FAILED"}'] == 1
    assert samples['broker_routing_jobs{state="GAVE_UP"}'] == 0
    assert samples['broker_queue_depth{queue="routing"}'] == 2


def test_it_reports_the_outbound_queue_depth(client):
    make_notification(state="PENDING")
    make_notification(state="SENT")
    make_forward(state="FAILED")
    samples = scrape(client)
    assert samples['broker_queue_depth{queue="ris_notifications"}'] == 1
    assert samples['broker_queue_depth{queue="mpps_forwards"}'] == 1
    assert samples['broker_ris_notifications{state="SENT"}'] == 1


def test_it_counts_messages_waiting_in_the_embedded_task_queue(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    for n in range(3):
        (tmp_path / f"{n}_abc.celery.msg").write_text("{}")
    assert scrape(client)['broker_queue_depth{queue="task_broker"}'] == 3


def test_it_counts_messages_waiting_in_redis(client, settings, redis_url):
    import redis

    settings.CELERY_BROKER_URL = redis_url
    connection = redis.Redis.from_url(redis_url)
    connection.delete("celery")
    connection.rpush("celery", "a", "b")
    try:
        assert scrape(client)['broker_queue_depth{queue="task_broker"}'] == 2
    finally:
        connection.delete("celery")


def test_it_asks_for_the_token_when_one_is_configured(client, settings):
    settings.BROKER_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "broker_mpps{status=\"COMPLETED\"}" in scrape(client, Authorization="Bearer s3cret-token")


def test_it_labels_unsupported_message_types_as_other(client):
    make_hl7_message("AR", message_type='ORM"O01\\x')
    make_hl7_message("AR", message_type="ZZZ^Z99")
    make_hl7_message("AA", message_type="ORM^O01")
    samples = scrape(client)
    assert samples['broker_hl7_messages_total{message_type="other",ack_code="AR"}'] == 2
    assert samples['broker_hl7_messages_total{message_type="ORM^O01",ack_code="AA"}'] == 1
    assert not any("ZZZ" in name or "O01\\" in name for name in samples)


def test_it_escapes_label_values():
    from broker.dashboard.metrics import _labels
    assert _labels(name='CT"1\\x\n') == '{name="CT\\"1\\\\x\\n"}'
