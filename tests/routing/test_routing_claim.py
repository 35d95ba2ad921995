"""Claiming a routing job: one run at a time; a job orphaned by a dead worker is taken over at once."""
import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from broker.routing import delivery, jobs
from broker.routing.models import RoutingJob, Study


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("owner, claimed", [
    (lambda: f"{socket.gethostname()}:{dead_pid()}", True),  # its worker was killed
    (lambda: f"{socket.gethostname()}:{os.getpid()}", False),  # still running here
    (lambda: "another-host:1", False),  # another machine's worker: wait for the stale timeout
])
def test_it_takes_over_a_running_job_only_when_its_process_is_gone(job, owner, claimed):
    RoutingJob.objects.filter(pk=job.pk).update(state=RoutingJob.State.RUNNING, claimed_by=owner())
    assert (delivery.claim(job.id) is not None) is claimed


def test_it_claims_a_waiting_job_once(job):
    first = delivery.claim(job.id)
    assert first.state == RoutingJob.State.RUNNING and first.attempts == 1
    assert first.claimed_by == f"{socket.gethostname()}:{os.getpid()}"
    assert delivery.claim(job.id) is None


def test_it_takes_over_a_running_job_without_progress_for_the_stale_time(job, settings):
    settings.BROKER_ROUTING_STALE_SECONDS = 60
    RoutingJob.objects.filter(pk=job.pk).update(state=RoutingJob.State.RUNNING, claimed_by="another-host:1",
                                                updated_at=timezone.now() - timedelta(seconds=61))
    assert delivery.claim(job.id) is not None


def test_it_waits_when_the_destination_has_its_maximum_associations(job, django_capture_on_commit_callbacks):
    other_study = Study.objects.create(study_instance_uid="1.2.4", last_received_at=timezone.now())
    RoutingJob.objects.create(study=other_study, destination=job.destination, state=RoutingJob.State.RUNNING)
    with django_capture_on_commit_callbacks() as enqueued:
        assert delivery.claim(job.id) is None
    assert len(enqueued) == 1  # tried again a little later
    assert RoutingJob.objects.get(pk=job.pk).state == RoutingJob.State.WAITING


def test_it_sweeps_up_jobs_whose_task_was_lost(job, settings, django_capture_on_commit_callbacks):
    settings.BROKER_ROUTING_STALE_SECONDS = 60
    RoutingJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks() as enqueued:
        assert jobs.requeue_lost_jobs() == 1
    assert len(enqueued) == 1
    with django_capture_on_commit_callbacks() as enqueued:
        assert jobs.requeue_lost_jobs() == 0  # touched: not sent again before another stale period
