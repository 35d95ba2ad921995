"""Everything that happened to one imaging order, gathered from every app, as sections and one timeline."""
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset

from broker.dicom.models import WorklistQuery
from broker.routing.models import RoutingJob, StoredInstance, Study
from mpps.models import PerformedProcedureStep
from worklist.models import ImagingOrder, ScheduledProcedureStep
from worklist.mwl.explain import explain_exclusion

log = logging.getLogger(__name__)

# A busy station polls every few seconds; the timeline shows the queries that returned the order, not all polls.
MAX_CANDIDATE_QUERIES = 300
MAX_SHOWN_QUERIES = 25


@dataclass
class Event:
    at: datetime
    kind: str  # hl7, order, step, query, mpps, image, routing, ris
    title: str
    detail: str = ""
    url: str = ""
    tone: str = "info"  # info, ok, warn, bad


def step_stations(step: ScheduledProcedureStep) -> list[str]:
    return [ae for ae in step.station_ae_title.split("\\") if ae]


def identifier_dataset(query: WorklistQuery) -> Dataset | None:
    try:
        return Dataset.from_json(query.identifier or {})
    except Exception:  # a malformed logged identifier must not break the page
        log.warning("worklist query %s has an unreadable identifier", query.pk)
        return None


def queries_that_returned(order: ImagingOrder, steps, performed_steps) -> list:
    """Worklist queries that returned one of the order's steps, checked key by key.

    Candidates: queries with matches, from a station of the order (or an AE that reported MPPS for it),
    between the order's arrival and the end of its last performed step. Each candidate's identifier is then
    checked against the steps with the MWL explain.
    """
    stations = set()
    for step in steps:
        stations.update(step_stations(step))
    for performed in performed_steps:
        stations.update(ae for ae in (performed.calling_ae, performed.performed_station_ae_title) if ae)
    ended = [p.ended_at for p in performed_steps if p.ended_at]
    end = max(ended) if ended and all(p.is_final for p in performed_steps) else timezone.now()
    candidates = WorklistQuery.objects.filter(received_at__gte=order.created_at, received_at__lte=end, match_count__gt=0)
    if stations:
        candidates = candidates.filter(calling_ae__in=stations)
    candidates = list(candidates.order_by("-received_at")[:MAX_CANDIDATE_QUERIES])
    # A station polls with the same keys all day: explain each distinct identifier (and day) once.
    matched_by_key: dict[tuple, ScheduledProcedureStep | None] = {}
    returned = []
    for query in candidates:
        day = timezone.localtime(query.received_at).date()
        key = (json.dumps(query.identifier, sort_keys=True), day)
        if key not in matched_by_key:
            matched_by_key[key] = _first_matching_step(query, steps, day)
        if matched_by_key[key] is not None:
            query.matched_step = matched_by_key[key]
            returned.append(query)
        if len(returned) >= MAX_SHOWN_QUERIES:
            break
    return returned


def _first_matching_step(query: WorklistQuery, steps, day):
    identifier = identifier_dataset(query)
    if identifier is None:
        return None
    for step in steps:
        try:
            if not explain_exclusion(identifier, step, today=day):
                return step
        except Exception:  # one odd logged identifier must not break the order's page
            log.exception("explaining worklist query %s against step %s failed", query.pk, step.pk)
    return None


def order_studies(order: ImagingOrder, procedures) -> list[Study]:
    uids = [procedure.study_instance_uid for procedure in procedures]
    studies = list(Study.objects.filter(Q(order=order) | Q(study_instance_uid__in=uids)).order_by("first_received_at"))
    series = (StoredInstance.objects.filter(study__in=studies)
              .values("study_id", "series_instance_uid", "modality")
              .annotate(instances=Count("pk"), size=Sum("size")).order_by("series_instance_uid"))
    by_study: dict[int, list] = {}
    for row in series:
        by_study.setdefault(row["study_id"], []).append(row)
    for study in studies:
        study.series_summary = by_study.get(study.pk, [])
        study.instance_count = sum(row["instances"] for row in study.series_summary)
    return studies


def performed_step_ids(steps, procedures) -> set[int]:
    """MPPS linked to the steps, or reporting one of the order's Study Instance UIDs (two index lookups, no OR across a join)."""
    links = PerformedProcedureStep.scheduled_steps.through.objects.filter(scheduledprocedurestep__in=steps)
    ids = set(links.values_list("performedprocedurestep_id", flat=True))
    uids = [procedure.study_instance_uid for procedure in procedures]
    ids.update(PerformedProcedureStep.objects.filter(study_instance_uid__in=uids).values_list("pk", flat=True))
    return ids


def build(order: ImagingOrder) -> dict:
    procedures = list(order.requested_procedures.order_by("pk"))
    steps = list(ScheduledProcedureStep.objects.filter(requested_procedure__order=order)
                 .select_related("requested_procedure").order_by("start", "pk"))
    for procedure in procedures:
        procedure.step_list = [step for step in steps if step.requested_procedure_id == procedure.pk]
    performed_steps = list(PerformedProcedureStep.objects.filter(pk__in=performed_step_ids(steps, procedures))
                           .prefetch_related("series", "scheduled_steps").order_by("created_at"))
    hl7_messages = list(order.hl7_messages.order_by("received_at"))
    queries = queries_that_returned(order, steps, performed_steps)
    studies = order_studies(order, procedures)
    jobs = list(RoutingJob.objects.filter(study__in=studies).select_related("destination", "study").order_by("created_at"))
    notifications = list(order.ris_notifications.select_related("endpoint").order_by("created_at"))
    events = _events(order, hl7_messages, steps, queries, performed_steps, studies, jobs, notifications)
    return {
        "order": order, "patient": order.patient, "procedures": procedures, "steps": steps,
        "hl7_messages": hl7_messages, "queries": queries,
        "performed_steps": performed_steps, "studies": studies, "jobs": jobs, "notifications": notifications,
        "events": events,
    }


_OUTCOME_TONE = {"AA": "ok", "AE": "bad", "AR": "bad"}
_MPPS_TONE = {"IN PROGRESS": "info", "COMPLETED": "ok", "DISCONTINUED": "warn"}
_JOB_TONE = {"DONE": "ok", "FAILED": "warn", "GAVE_UP": "bad"}


def _events(order, hl7_messages, steps, queries, performed_steps, studies, jobs, notifications) -> list[Event]:
    events = [Event(order.created_at, "order", "Order created",
                    f"accession {order.accession_number or '—'}, placer {order.placer_order_number or '—'}")]
    for message in hl7_messages:
        events.append(Event(message.received_at, "hl7", f"HL7 {message.message_type} {message.order_control}".strip(),
                            f"control ID {message.control_id}, answered {message.outcome}"
                            + (f": {message.error_text}" if message.error_text else ""),
                            reverse("dashboard:hl7_detail", args=[message.pk]), _OUTCOME_TONE.get(message.outcome, "info")))
    for step in steps:
        when = step.start_text() if step.start else "no time"
        events.append(Event(step.created_at, "step", f"Step {step.sps_id} scheduled",
                            f"{step.modality} on {step.station_ae_title or 'any station'} for {when}; now {step.get_status_display()}"))
    for query in queries:
        events.append(Event(query.received_at, "query", f"{query.calling_ae} queried the worklist",
                            f"{query.match_count} match(es) in {query.duration_ms:.0f} ms",
                            reverse("dashboard:query_detail", args=[query.pk])))
    for performed in performed_steps:
        events.append(Event(performed.started_at or performed.created_at, "mpps", f"MPPS started on {performed.performed_station_ae_title or performed.calling_ae}",
                            f"{performed.modality} {performed.description}".strip(),
                            reverse("dashboard:mpps_detail", args=[performed.pk])))
        if performed.is_final:
            events.append(Event(performed.ended_at or performed.updated_at, "mpps", f"MPPS {performed.get_status_display().lower()}",
                                performed.discontinuation_reason_meaning,
                                reverse("dashboard:mpps_detail", args=[performed.pk]), _MPPS_TONE.get(performed.status, "info")))
    for study in studies:
        events.append(Event(study.first_received_at, "image", "First image received",
                            f"from {study.calling_ae or 'unknown AE'}; {study.instance_count} instance(s) so far"))
        if study.completed_at:
            events.append(Event(study.completed_at, "image", "Study complete", study.get_completion_reason_display(),
                                tone="warn" if study.missing_instances else "ok"))
    for job in jobs:
        events.append(Event(job.created_at, "routing", f"Routing to {job.destination.name} queued", job.get_action_display()))
        if job.finished_at:
            events.append(Event(job.finished_at, "routing", f"Routing to {job.destination.name}: {job.get_state_display()}",
                                f"{job.sent}/{job.total} sent" + (f"; {job.last_error}" if job.last_error else ""),
                                tone=_JOB_TONE.get(job.state, "info")))
    for notification in notifications:
        events.append(Event(notification.created_at, "ris", f"Status {notification.get_event_display().lower()} for the RIS",
                            f"to {notification.endpoint.name}: {notification.get_state_display()}",
                            tone="bad" if notification.state == "GAVE_UP" else "info"))
        if notification.sent_at:
            events.append(Event(notification.sent_at, "ris", f"RIS acknowledged {notification.get_event_display().lower()}",
                                f"control ID {notification.control_id}", tone="ok"))
    # Within the same instant, cause before effect: the message creates the order, the order its steps, ...
    return sorted((event for event in events if event.at), key=lambda event: (event.at, _KIND_ORDER.index(event.kind)))


_KIND_ORDER = ["hl7", "order", "step", "query", "mpps", "image", "routing", "ris"]
