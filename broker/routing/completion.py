"""When a received study is complete, and why.

Complete by MPPS: every performed procedure step of the study is final (COMPLETED or
DISCONTINUED) and every instance their Performed Series Sequences reference has arrived.
Complete by quiet time: no instance for BROKER_STUDY_QUIET_SECONDS (studies without MPPS,
with MPPS still in progress, or with referenced instances that never came — those are flagged).
Complete by storage commitment (BROKER_STUDY_COMPLETE_ON_COMMITMENT): the modality asked the broker to
commit instances of the study and every one was committed, and no MPPS of the study is still in progress.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from broker.routing import auditing, jobs
from broker.routing.models import StoredInstance, Study
from broker.routing.signals import study_completed
from mpps.models import PerformedSeries

log = logging.getLogger(__name__)


def referenced_instance_uids(performed_steps) -> set[str]:
    lists = PerformedSeries.objects.filter(performed_step__in=performed_steps).values_list("referenced_images", flat=True)
    return {image["sop_instance_uid"] for images in lists for image in images or [] if image.get("sop_instance_uid")}


def fewest_expected(performed_steps) -> int:
    """A floor for how many instances the steps reference, read from counts: a SOP instance belongs to one series
    (PS3.3 A.1.2), so each step's series count its images once; the steps may overlap, so the largest is the floor."""
    totals = (PerformedSeries.objects.filter(performed_step__in=performed_steps).values("performed_step")
              .annotate(images=Sum("image_count")).values_list("images", flat=True))
    return max(totals, default=0)


def received_instance_uids(study: Study) -> set[str]:
    return set(study.instances.values_list("sop_instance_uid", flat=True))


def complete_by_mpps_if_ready(study: Study) -> bool:
    """Complete the (locked, RECEIVING) study if its MPPS say everything is here."""
    steps = list(study.performed_steps())
    if not steps or not all(step.is_final for step in steps):
        return False
    # Called for every instance stored: counts first, so that a study still arriving costs two small queries,
    # not the parsing of every reference its MPPS list (5,000 for a CT series) for each of its instances.
    received = study.instances.count()
    if received < fewest_expected(steps):
        return False
    expected = referenced_instance_uids(steps)
    if len(expected) > received or not expected <= received_instance_uids(study):
        return False
    complete(study, Study.CompletionReason.MPPS)
    return True


def complete(study: Study, reason: str, *, missing_instances: int = 0) -> None:
    """Mark the study COMPLETE and send study_completed inside the caller's transaction."""
    study.state = Study.State.COMPLETE
    study.completion_reason = reason
    study.missing_instances = missing_instances
    study.completed_at = timezone.now()
    study.save(update_fields=["state", "completion_reason", "missing_instances", "completed_at"])
    if missing_instances:
        log.warning("study %s complete by %s with %d instances its MPPS referenced missing",
                    study.study_instance_uid, reason, missing_instances)
    else:
        log.info("study %s complete (%s)", study.study_instance_uid, reason)
    auditing.study_received(study)
    study_completed.send(sender=Study, study=study)


def instance_received(study: Study) -> None:
    """Called in the storing transaction with the study row locked."""
    if study.state == Study.State.COMPLETE:
        jobs.resume_for_late_instances(study)  # routed already: send the newcomer incrementally
        return
    complete_by_mpps_if_ready(study)


def performed_step_finalized(sender, performed_step, **kwargs) -> None:
    """mpps.signals.performed_step_finalized receiver: the MPPS may be the last piece."""
    series = performed_step.series.values_list("series_instance_uid", flat=True)
    candidates = Study.objects.filter(state=Study.State.RECEIVING).filter(
        Q(study_instance_uid=performed_step.study_instance_uid) | Q(instances__series_instance_uid__in=series)
    ).distinct()
    for study_id in candidates.values_list("id", flat=True):
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            if study.state == Study.State.RECEIVING:
                complete_by_mpps_if_ready(study)


def complete_quiet_studies(now=None) -> int:
    """Complete every study that received nothing for the quiet time; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BROKER_STUDY_QUIET_SECONDS)
    done = 0
    for study_id in Study.objects.filter(state=Study.State.RECEIVING, last_received_at__lte=cutoff).values_list("id", flat=True):
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            if study.state != Study.State.RECEIVING or study.last_received_at > cutoff:
                continue  # an instance arrived meanwhile
            if complete_by_mpps_if_ready(study):
                done += 1
                continue
            missing = referenced_instance_uids(study.performed_steps()) - received_instance_uids(study)
            complete(study, Study.CompletionReason.QUIET_TIME, missing_instances=len(missing))
            done += 1
    return done


COMMITTED_UIDS_PER_QUERY = 500  # a commitment may list thousands of instances; SQLite caps a query's parameters


def studies_of(sop_instance_uids) -> set[int]:
    uids = list(sop_instance_uids)
    found: set[int] = set()
    for start in range(0, len(uids), COMMITTED_UIDS_PER_QUERY):
        chunk = uids[start:start + COMMITTED_UIDS_PER_QUERY]
        found.update(StoredInstance.objects.filter(sop_instance_uid__in=chunk).values_list("study_id", flat=True))
    return found


def complete_by_commitment(sop_instance_uids) -> int:
    """The modality had every instance it listed committed: it has finished sending them, so their studies are
    complete, unless an MPPS of the study is still in progress (a modality committing series by series, or
    still scanning). Returns how many studies completed."""
    done = 0
    for study_id in sorted(studies_of(sop_instance_uids)):
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study_id)
            if study.state != Study.State.RECEIVING:
                continue
            steps = list(study.performed_steps())
            if any(not step.is_final for step in steps):
                log.info("study %s: every instance committed, but an MPPS is still in progress; not complete yet",
                         study.study_instance_uid)
                continue
            if complete_by_mpps_if_ready(study):
                done += 1
                continue
            missing = referenced_instance_uids(steps) - received_instance_uids(study)
            complete(study, Study.CompletionReason.COMMITMENT, missing_instances=len(missing))
            done += 1
    return done


def mark_complete_by_operator(study_id: int) -> Study:
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if study.state != Study.State.COMPLETE:
            missing = referenced_instance_uids(study.performed_steps()) - received_instance_uids(study)
            complete(study, Study.CompletionReason.OPERATOR, missing_instances=len(missing))
    return study
