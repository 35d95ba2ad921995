"""Routing with a real Celery worker on Redis: killed mid-study, and Redis restarted during routing."""
import pytest

from broker.routing import services
from broker.routing.models import DeliveredInstance, Destination, RoutingJob, RoutingRule, Study
from tests.routing.support import StoreSCP, make_study, point_celery_at, sop_instance_uid, storescu, wait_until

pytestmark = [pytest.mark.dcmtk, pytest.mark.redis, pytest.mark.slow]


def complete_study_routed_to(scp, port, paths) -> RoutingJob:
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    assert storescu(port, paths).returncode == 0
    services.mark_study_complete(Study.objects.get().id)  # the job is enqueued on commit, to Redis
    return RoutingJob.objects.get()


@pytest.mark.parametrize("engine", ["pynetdicom", "dcmtk"])
def test_it_finishes_after_the_worker_is_killed_mid_study_without_resending_confirmed_instances(
        broker_listener, redis_db, celery_worker_factory, tmp_path, engine):
    point_celery_at(redis_db)
    scp = StoreSCP(tmp_path / "pacs", options=("--sleep-after", "1")).start()  # slow destination: time to kill
    paths = make_study(tmp_path / "s", count=6, mix=False)
    # With dcmtk the six instances are one dcmsend run: confirmations are recorded as its responses arrive.
    engine_env = {"BROKER_ROUTING_SENDER": engine}
    worker = celery_worker_factory(redis_db, **engine_env)
    job = complete_study_routed_to(scp, broker_listener, paths)

    wait_until(lambda: DeliveredInstance.objects.filter(job=job).count() >= 2, 60, message="two confirmed instances")
    worker.kill()
    confirmed_before_kill = set(DeliveredInstance.objects.filter(job=job).values_list("instance__sop_instance_uid", flat=True))
    assert RoutingJob.objects.get(pk=job.pk).state == RoutingJob.State.RUNNING

    # Its sweep finds the job whose worker process is gone, long before the job would count as stale.
    celery_worker_factory(redis_db, BROKER_ROUTING_STALE_SECONDS="600", **engine_env)
    wait_until(lambda: RoutingJob.objects.get(pk=job.pk).state == RoutingJob.State.DONE, 90, message="job done")

    received = scp.received()
    assert set(received) == {sop_instance_uid(p) for p in paths}  # nothing missing
    assert all(len(received[uid]) == 1 for uid in confirmed_before_kill)  # nothing confirmed was sent again
    assert RoutingJob.objects.get(pk=job.pk).sent == 6
    scp.stop()


# Instances a killed worker may send twice: the one whose response arrived but whose confirmation was not yet
# committed, and the one on the wire without a response (docs/routing.md, "Routing jobs"). dcmsend's log may hold
# one more response line the worker had not read yet.
IN_FLIGHT_WINDOW = 3


@pytest.mark.parametrize("engine", ["pynetdicom", "dcmtk"])
def test_it_resends_at_most_the_in_flight_window_after_the_worker_is_killed_mid_delivery(
        broker_listener, redis_db, celery_worker_factory, tmp_path, engine):
    point_celery_at(redis_db)
    scp = StoreSCP(tmp_path / "pacs").start()  # a fast destination: confirmations arrive as fast as they can
    paths = make_study(tmp_path / "s", count=300, mix=False)
    engine_env = {"BROKER_ROUTING_SENDER": engine}
    worker = celery_worker_factory(redis_db, **engine_env)
    job = complete_study_routed_to(scp, broker_listener, paths)

    # Killed when the destination has 40 files, whatever the worker has recorded by then (not right after a write).
    wait_until(lambda: sum(1 for _ in scp.directory.iterdir()) >= 40, 120, interval=0.005, message="40 received")
    worker.kill()
    confirmed_before_kill = DeliveredInstance.objects.filter(job=job).count()
    assert confirmed_before_kill < len(paths), "killed too late to prove anything"
    celery_worker_factory(redis_db, BROKER_ROUTING_STALE_SECONDS="600", **engine_env)
    wait_until(lambda: RoutingJob.objects.get(pk=job.pk).state == RoutingJob.State.DONE, 180, message="job done")

    received = scp.received()
    assert set(received) == {sop_instance_uid(p) for p in paths}  # every instance arrived
    twice = sum(len(files) - 1 for files in received.values())
    assert twice <= IN_FLIGHT_WINDOW, f"{twice} instances received twice"
    assert RoutingJob.objects.get(pk=job.pk).sent == len(paths)
    scp.stop()


def test_it_finishes_when_redis_is_restarted_during_routing(broker_listener, private_redis, celery_worker_factory, tmp_path):
    point_celery_at(private_redis.url)
    scp = StoreSCP(tmp_path / "pacs")  # down at first: the job waits for a retry
    paths = make_study(tmp_path / "s", count=3, mix=False)
    celery_worker_factory(private_redis.url)
    job = complete_study_routed_to(scp, broker_listener, paths)
    wait_until(lambda: RoutingJob.objects.get(pk=job.pk).attempts >= 1, 60, message="a failed first attempt")

    private_redis.stop()  # every queued and scheduled message is gone with it (no persistence)
    private_redis.start()
    scp.start()

    wait_until(lambda: RoutingJob.objects.get(pk=job.pk).state == RoutingJob.State.DONE, 90, message="job done")
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}
    scp.stop()


def test_it_routes_a_study_the_worker_completes_after_the_quiet_time(broker_listener, redis_db, celery_worker_factory, tmp_path):
    # No MPPS and no operator: the worker's periodic sweep completes the study, then routes it.
    scp = StoreSCP(tmp_path / "pacs").start()
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="ct", match_modality="CT").destinations.add(destination)
    paths = make_study(tmp_path / "s", count=3, mix=False)
    celery_worker_factory(redis_db, BROKER_STUDY_QUIET_SECONDS="2")
    assert storescu(broker_listener, paths).returncode == 0

    wait_until(lambda: RoutingJob.objects.filter(state=RoutingJob.State.DONE).exists(), 60, message="routed")

    study = Study.objects.get()
    assert (study.state, study.completion_reason) == (Study.State.COMPLETE, Study.CompletionReason.QUIET_TIME)
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}
