"""Retention: routed files deleted after BROKER_RETENTION_DAYS, only once every destination confirmed them."""


from broker.routing import housekeeping, services
from broker.routing.models import DeliveredInstance, RoutingJob, RoutingRule


def confirm(job, instance):
    DeliveredInstance.objects.create(job=job, instance=instance)


def test_it_deletes_files_every_destination_confirmed(routed_study, storage_dir, settings):
    settings.BROKER_RETENTION_DAYS = 7
    study, (first, second), (pacs, ai) = routed_study
    confirm(pacs, first), confirm(ai, first), confirm(pacs, second)  # the AI never got the second

    assert housekeeping.delete_expired_files() == 1

    first.refresh_from_db(), second.refresh_from_db()
    assert first.deleted_at is not None and not (storage_dir / first.path).exists()
    assert second.deleted_at is None and (storage_dir / second.path).exists()


def test_it_keeps_files_younger_than_the_retention(routed_study, settings):
    settings.BROKER_RETENTION_DAYS = 30
    study, instances, jobs = routed_study
    for job in jobs:
        for instance in instances:
            confirm(job, instance)
    assert housekeeping.delete_expired_files() == 0


def test_it_keeps_files_of_a_study_no_rule_routed(routed_study, settings):
    settings.BROKER_RETENTION_DAYS = 7
    study, instances, jobs = routed_study
    RoutingJob.objects.all().delete()
    assert housekeeping.delete_expired_files() == 0


def test_it_waits_for_an_unfinished_move_job(routed_study, settings):
    settings.BROKER_RETENTION_DAYS = 7
    study, instances, (pacs, ai) = routed_study
    for instance in instances:
        confirm(pacs, instance)
    RoutingJob.objects.filter(pk=ai.pk).update(action=RoutingRule.Action.MOVE, state=RoutingJob.State.FAILED)
    assert housekeeping.delete_expired_files() == 0
    RoutingJob.objects.filter(pk=ai.pk).update(state=RoutingJob.State.DONE)
    assert housekeeping.delete_expired_files() == 2


def test_it_lets_an_operator_give_up_and_retry_a_job(routed_study, django_capture_on_commit_callbacks):
    study, instances, (pacs, ai) = routed_study
    RoutingJob.objects.filter(pk=pacs.pk).update(state=RoutingJob.State.FAILED, attempts=3, last_error="refused")

    assert services.give_up_job(pacs.id).state == RoutingJob.State.GAVE_UP
    with django_capture_on_commit_callbacks() as enqueued:
        job = services.retry_job(pacs.id)
    assert (job.state, job.attempts) == (RoutingJob.State.WAITING, 0)
    assert len(enqueued) == 1  # its task is sent once the retry is committed


# --- partial files of killed C-STOREs --------------------------------------------------------------

def part_file(storage_dir, name: str, age_minutes: float):
    import os
    import time

    incoming = storage_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / name
    path.write_bytes(b"\0" * 128 + b"DICM")
    then = time.time() - age_minutes * 60
    os.utime(path, (then, then))
    return path


def test_it_removes_partial_files_a_killed_c_store_left_behind(db, storage_dir, settings):
    from broker.routing import tasks

    settings.BROKER_STORAGE_PART_MAX_AGE_MINUTES = 60
    stale = part_file(storage_dir, "0123abcd.part", age_minutes=61)

    result = tasks.delete_expired_files.apply().get()  # the periodic housekeeping task, run in this process

    assert result == {"deleted": 0, "stale_parts": 1}
    assert not stale.exists()


def test_it_keeps_the_partial_file_of_a_c_store_in_progress(db, storage_dir, settings):
    settings.BROKER_STORAGE_PART_MAX_AGE_MINUTES = 60
    fresh = part_file(storage_dir, "4567cdef.part", age_minutes=1)
    other = part_file(storage_dir, "notes.txt", age_minutes=600)  # only .part files are ours to remove

    assert housekeeping.remove_stale_part_files() == 0
    assert fresh.exists() and other.exists()


def test_it_does_nothing_when_nothing_was_ever_received(db, storage_dir):
    assert not (storage_dir / ".incoming").exists()
    assert housekeeping.remove_stale_part_files() == 0
