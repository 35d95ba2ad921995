"""Routing jobs: created when a study completes (one per study and destination), enqueued on commit,
claimed by exactly one task run, and found again by the sweep when their task was lost."""
import logging

from celery import signature
from django.db import transaction

from broker.routing.models import ROUTING_JOBS, RoutingJob, RoutingRule, Study
from broker.routing.rules import StudyFacts, matching_rules

log = logging.getLogger(__name__)


# The task is named, not imported: broker.routing.tasks imports this module. A signature by name still runs
# the registered task itself (eager in tests that ask for it).
ROUTE_JOB_TASK = "broker.routing.tasks.route_job"


def enqueue(job_id: int, countdown: float | None = None) -> None:
    """Send the job's task once the current transaction commits; a lost message is found by the sweep."""

    def send():
        try:
            signature(ROUTE_JOB_TASK, args=(job_id,)).apply_async(countdown=countdown)
        except Exception:  # the message transport is down: the job row is safe, the sweep re-enqueues it
            log.exception("could not enqueue routing job %s; the sweep will retry", job_id)

    transaction.on_commit(send)


WRONG_WORKLIST_ENTRY = "110514"  # DCM code: "Incorrect worklist entry selected" (CID 9300)


def hold_reason(study: Study) -> str:
    """Why the study must not be routed automatically, or "" (images may belong to another patient)."""
    for step in study.performed_steps():
        # The MPPS app keeps the code as "value^scheme" (e.g. "110514^DCM").
        code = step.discontinuation_reason_code.split("^", 1)[0]
        if step.status == step.Status.DISCONTINUED and code == WRONG_WORKLIST_ENTRY:
            return f"MPPS {step.sop_instance_uid} discontinued: incorrect worklist entry selected (110514)"
    return ""


def create_jobs(study: Study, *, release: bool = False) -> list[RoutingJob]:
    """One job per destination of every matching rule (the first matching rule for a destination wins).

    A study whose MPPS was discontinued as "incorrect worklist entry selected" is held for staff instead,
    unless they release it."""
    reason = "" if release else hold_reason(study)
    if reason != study.held_reason:
        study.held_reason = reason
        study.save(update_fields=["held_reason"])
    if reason:
        log.warning("study %s held, not routed: %s", study, reason)
        return []
    rules = RoutingRule.objects.filter(enabled=True).prefetch_related("destinations").select_related("move_source")
    facts = StudyFacts.from_study(study)
    total = study.instances.count()
    jobs = []
    for rule in matching_rules(rules, facts):
        for destination in rule.destinations.all():
            if not destination.enabled:
                continue
            job, created = RoutingJob.objects.get_or_create(
                study=study, destination=destination,
                defaults={"rule": rule, "action": rule.action, "total": total},
            )
            if created:
                log.info("routing %s to %s by rule %s (%s)", study, destination.name, rule.name, rule.action)
                enqueue(job.id)
            elif job.state == RoutingJob.State.DONE:
                reopen(job)
            jobs.append(job)
    if not jobs:
        log.info("study %s matches no routing rule; it stays here", study)
    return jobs


def on_study_completed(sender, study, **kwargs):
    create_jobs(study)


def reopen(job: RoutingJob) -> None:
    job.state = RoutingJob.State.WAITING
    job.total = job.study.instances.count()
    job.finished_at = None
    job.next_attempt_at = None
    job.save(update_fields=["state", "total", "finished_at", "next_attempt_at", "updated_at"])
    enqueue(job.id)


def resume_for_late_instances(study: Study) -> None:
    """An instance arrived after the study was routed: send it (only it) to the destinations done so far."""
    for job in study.routing_jobs.filter(state=RoutingJob.State.DONE, action=RoutingRule.Action.SEND):
        log.info("late instance for %s: resuming job %s", study, job.id)
        reopen(job)
    # RUNNING jobs re-check for pending instances under the study lock before they finish.
    study.routing_jobs.exclude(state=RoutingJob.State.DONE).update(total=study.instances.count())


def requeue_lost_jobs() -> int:
    """Re-enqueue jobs whose task message was lost (worker killed, transport restarted); the core sweep."""

    def again(job_id):
        with transaction.atomic():
            enqueue(job_id)

    _released, requeued = ROUTING_JOBS.sweep(again)
    return requeued
