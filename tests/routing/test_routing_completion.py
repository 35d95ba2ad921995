"""When a received study is complete: by MPPS, by quiet time, flagged when MPPS named instances that never came."""
from datetime import timedelta

import pytest
from django.utils import timezone

from broker.routing import completion
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from mpps.models import PerformedProcedureStep, PerformedSeries
from mpps.signals import performed_step_finalized
from tests.routing.support import make_study, storescu

pytestmark = pytest.mark.dcmtk


def performed_step_for(study_uid, paths, *, status=PerformedProcedureStep.Status.IN_PROGRESS, extra_uids=()):
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), status=status, study_instance_uid=study_uid)
    by_series = {}
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)
        by_series.setdefault(ds.SeriesInstanceUID, []).append({"sop_class_uid": ds.SOPClassUID, "sop_instance_uid": ds.SOPInstanceUID})
    for uid in extra_uids:
        next(iter(by_series.values())).append({"sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "sop_instance_uid": uid})
    for series_uid, images in by_series.items():
        PerformedSeries.objects.create(performed_step=step, series_instance_uid=series_uid, referenced_images=images,
                                       image_count=len(images))
    return step


def finalize(step):
    # As the MPPS state machine does on the final N-SET: status saved, then the signal.
    step.status = PerformedProcedureStep.Status.COMPLETED
    step.save()
    performed_step_finalized.send(sender=PerformedProcedureStep, performed_step=step)




def test_it_completes_when_the_mpps_is_final_and_every_referenced_instance_arrived(broker_listener, tmp_path, completed_signals):
    paths = make_study(tmp_path / "s", count=3, mix=False)
    study_uid = __import__("pydicom").dcmread(paths[0]).StudyInstanceUID
    step = performed_step_for(study_uid, paths)
    assert storescu(broker_listener, paths[:2]).returncode == 0
    finalize(step)
    assert Study.objects.get().state == Study.State.RECEIVING  # one referenced instance still missing

    assert storescu(broker_listener, paths[2:]).returncode == 0  # the last image after the final N-SET

    study = Study.objects.get()
    assert (study.state, study.completion_reason, study.missing_instances) == (Study.State.COMPLETE, "MPPS", 0)
    assert completed_signals == [(study_uid, "MPPS")]


def test_it_completes_on_the_final_n_set_when_the_images_came_first(broker_listener, tmp_path, completed_signals):
    paths = make_study(tmp_path / "s", count=2, mix=False)
    study_uid = __import__("pydicom").dcmread(paths[0]).StudyInstanceUID
    step = performed_step_for(study_uid, paths)
    assert storescu(broker_listener, paths).returncode == 0
    assert Study.objects.get().state == Study.State.RECEIVING  # MPPS still in progress

    finalize(step)

    assert Study.objects.get().completion_reason == Study.CompletionReason.MPPS
    assert completed_signals == [(study_uid, "MPPS")]


def test_it_completes_a_study_without_mpps_after_the_quiet_time(broker_listener, tmp_path, settings, completed_signals):
    settings.BROKER_STUDY_QUIET_SECONDS = 60
    assert storescu(broker_listener, make_study(tmp_path / "s", count=2, mix=False)).returncode == 0

    assert completion.complete_quiet_studies(now=timezone.now() + timedelta(seconds=30)) == 0
    assert completion.complete_quiet_studies(now=timezone.now() + timedelta(seconds=61)) == 1

    study = Study.objects.get()
    assert (study.state, study.completion_reason, study.missing_instances) == (Study.State.COMPLETE, "QUIET", 0)
    assert len(completed_signals) == 1


def test_it_flags_instances_the_mpps_named_that_never_came(broker_listener, tmp_path, settings):
    paths = make_study(tmp_path / "s", count=2, mix=False)
    study_uid = __import__("pydicom").dcmread(paths[0]).StudyInstanceUID
    finalize(performed_step_for(study_uid, paths, extra_uids=["1.2.3.404.1", "1.2.3.404.2"]))
    assert storescu(broker_listener, paths).returncode == 0
    assert Study.objects.get().state == Study.State.RECEIVING

    completion.complete_quiet_studies(now=timezone.now() + timedelta(seconds=settings.BROKER_STUDY_QUIET_SECONDS + 1))

    study = Study.objects.get()
    assert (study.completion_reason, study.missing_instances) == ("QUIET", 2)


def test_it_creates_one_job_per_destination_of_the_matching_rules_on_completion(broker_listener, tmp_path):
    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    ai = Destination.objects.create(name="AI", ae_title="AI", host="127.0.0.1", port=105)
    RoutingRule.objects.create(name="ct", match_modality="CT").destinations.add(pacs, ai)
    RoutingRule.objects.create(name="ct-again", match_modality="CT", priority=200).destinations.add(pacs)
    RoutingRule.objects.create(name="mr", match_modality="MR").destinations.add(ai)
    assert storescu(broker_listener, make_study(tmp_path / "s", count=2, mix=False)).returncode == 0

    from broker.routing import services
    services.mark_study_complete(Study.objects.get().id)

    jobs = RoutingJob.objects.order_by("destination__name")
    assert [(j.destination.name, j.rule.name, j.state, j.total) for j in jobs] == [("AI", "ct", "WAITING", 2), ("PACS", "ct", "WAITING", 2)]
    assert Study.objects.get().completion_reason == Study.CompletionReason.OPERATOR


def test_it_holds_a_study_whose_mpps_was_discontinued_as_the_wrong_worklist_entry(broker_listener, tmp_path):
    from broker.routing import services

    pacs = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    RoutingRule.objects.create(name="all").destinations.add(pacs)
    paths = make_study(tmp_path / "s", count=2, mix=False)
    step = performed_step_for(__import__("pydicom").dcmread(paths[0]).StudyInstanceUID, paths)
    assert storescu(broker_listener, paths).returncode == 0
    step.status = PerformedProcedureStep.Status.DISCONTINUED
    step.discontinuation_reason_code = "110514"
    step.save()
    performed_step_finalized.send(sender=PerformedProcedureStep, performed_step=step)

    study = Study.objects.get()
    assert study.state == Study.State.COMPLETE  # complete, but the images may belong to another patient
    assert "incorrect worklist entry selected (110514)" in study.held_reason
    assert RoutingJob.objects.count() == 0

    services.release_study(study.id)  # staff checked it

    assert Study.objects.get().held_reason == ""
    assert [j.destination.name for j in RoutingJob.objects.all()] == ["PACS"]


@pytest.mark.django_db
def test_it_counts_the_largest_step_as_the_floor_of_what_must_arrive():
    def step_with(*image_counts):
        step = PerformedProcedureStep.objects.create(sop_instance_uid=f"1.2.9.{PerformedProcedureStep.objects.count()}",
                                                     status=PerformedProcedureStep.Status.COMPLETED)
        for n, count in enumerate(image_counts):
            PerformedSeries.objects.create(performed_step=step, series_instance_uid=f"{step.sop_instance_uid}.{n}",
                                           image_count=count)
        return step

    two_series, repeat_of_it, empty = step_with(3, 4), step_with(7), step_with()
    assert completion.fewest_expected([two_series]) == 7
    assert completion.fewest_expected([two_series, repeat_of_it, empty]) == 7  # steps may list the same images
    assert completion.fewest_expected([empty]) == 0
    assert completion.fewest_expected([]) == 0


@pytest.mark.django_db
def test_it_waits_for_enough_instances_before_reading_the_references(django_assert_max_num_queries):
    study = Study.objects.create(study_instance_uid="1.2.9.9", last_received_at=timezone.now())
    step = PerformedProcedureStep.objects.create(sop_instance_uid="1.2.9.9.1", study_instance_uid="1.2.9.9",
                                                 status=PerformedProcedureStep.Status.COMPLETED)
    images = [{"sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "sop_instance_uid": f"1.2.9.9.2.{n}"} for n in range(5000)]
    PerformedSeries.objects.create(performed_step=step, series_instance_uid="1.2.9.9.2", referenced_images=images,
                                   image_count=len(images))
    study.instances.create(series_instance_uid="1.2.9.9.2", sop_instance_uid="1.2.9.9.2.0", sop_class_uid="1.2",
                           path="a", size=1)
    with django_assert_max_num_queries(3) as captured:  # the steps, the count, the floor
        assert completion.complete_by_mpps_if_ready(study) is False
    read = " ".join(query["sql"] for query in captured.captured_queries)
    assert '"referenced_images"' not in read and '"dataset"' not in read  # neither 5,000 references nor the MPPS
    assert Study.objects.get().state == Study.State.RECEIVING
