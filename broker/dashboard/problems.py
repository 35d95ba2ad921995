"""Work that needs a person: the querysets behind the problems page and the candidates to link an MPPS to."""
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from broker.availability.models import AvailabilityNotification
from broker.commitment.models import RefusedCommitmentRequest, StorageCommitment
from broker.dashboard.models import InternalError
from broker.hl7.models import HL7Message
from broker.outbound.models import DeliveryState, MppsForward, RisNotification
from broker.routing.models import Destination, RejectedInstance, RoutingJob, Study
from mpps.models import MppsRequest, PerformedProcedureStep
from worklist.models import ScheduledProcedureStep


def unscheduled_mpps():
    """Performed steps no scheduled step is linked to (the modality ran them without picking a worklist entry)."""
    return (PerformedProcedureStep.objects.filter(scheduled_steps__isnull=True)
            .select_related("patient").order_by("-created_at"))


def stale_mpps():
    """Performed steps IN PROGRESS for longer than BROKER_MPPS_STALE_HOURS: the final N-SET never came."""
    cutoff = timezone.now() - timedelta(hours=settings.BROKER_MPPS_STALE_HOURS)
    started_long_ago = Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)
    return (PerformedProcedureStep.objects.filter(started_long_ago, status=PerformedProcedureStep.Status.IN_PROGRESS)
            .select_related("patient").order_by("started_at", "created_at"))


def studies_missing_instances():
    return Study.objects.filter(missing_instances__gt=0).order_by("-last_received_at")


def rejected_messages():
    """Messages answered AE/AR that nobody replayed yet."""
    return HL7Message.objects.filter(outcome__in=["AE", "AR"], replayed_as__isnull=True).order_by("-received_at")


def reused_control_ids(days: int = 7):
    """Messages accepted lately whose sender reused an earlier message's control ID for other content."""
    since = timezone.now() - timedelta(days=days)
    return HL7Message.objects.filter(reuses_control_id_of__isnull=False, received_at__gte=since).order_by("-received_at")


def failing_destinations():
    """Destinations with routing jobs failing or given up, worst first, with the latest error."""
    failing_states = [RoutingJob.State.FAILED, RoutingJob.State.GAVE_UP]
    destinations = (Destination.objects.annotate(
        failed=Count("routing_jobs", filter=Q(routing_jobs__state=RoutingJob.State.FAILED)),
        gave_up=Count("routing_jobs", filter=Q(routing_jobs__state=RoutingJob.State.GAVE_UP)),
        last_failure=Max("routing_jobs__updated_at", filter=Q(routing_jobs__state__in=failing_states)),
    ).filter(Q(failed__gt=0) | Q(gave_up__gt=0)).order_by("-gave_up", "-failed", "name"))
    rows = list(destinations)
    for destination in rows:
        latest = (RoutingJob.objects.filter(destination=destination, state__in=failing_states)
                  .exclude(last_error="").order_by("-updated_at").values_list("last_error", flat=True).first())
        destination.last_error = latest or ""
    return rows


def stuck_outbound():
    """RIS notifications, MPPS forwards and IANs given up: the RIS, the MPPS peer or the IAN subscriber never
    confirmed them."""
    return (RisNotification.objects.filter(state=DeliveryState.GAVE_UP).select_related("endpoint", "order").order_by("-created_at"),
            MppsForward.objects.filter(state=DeliveryState.GAVE_UP).select_related("destination").order_by("-created_at"),
            AvailabilityNotification.objects.filter(state=DeliveryState.GAVE_UP).select_related("subscriber", "study")
            .order_by("-created_at"))


def link_candidates(performed: PerformedProcedureStep, limit: int = 30):
    """Steps the unscheduled MPPS probably performed: same patient or accession, else same station and day."""
    active = ScheduledProcedureStep.objects.filter(status__in=ScheduledProcedureStep.ACTIVE_STATUSES)
    by_identity = Q()
    if performed.patient_id:
        by_identity |= Q(requested_procedure__order__patient=performed.patient_id)
    if performed.reported_patient_id:
        by_identity |= Q(requested_procedure__order__patient__patient_id=performed.reported_patient_id)
    if performed.accession_number:
        by_identity |= Q(requested_procedure__order__accession_number=performed.accession_number)
    day = timezone.localtime(performed.started_at or performed.created_at)
    day_start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    station = performed.performed_station_ae_title or performed.calling_ae
    by_station = Q(start__gte=day_start, start__lt=day_start + timedelta(days=1))
    if station:
        by_station &= Q(station_ae_title__contains=station)
    elif performed.modality:
        by_station &= Q(modality=performed.modality)
    query = by_identity | by_station if by_identity else by_station
    return (active.filter(query).select_related("requested_procedure__order__patient")
            .order_by("start", "pk")[:limit])


def refused_mpps_requests(days: int = 7):
    """N-CREATE / N-SET the broker refused lately: the modality believes it reported a step the broker never stored."""
    since = timezone.now() - timedelta(days=days)
    return MppsRequest.objects.filter(status__gt=0, received_at__gte=since).order_by("-received_at")


def held_studies():
    """Complete studies routing waits on a person for (e.g. the MPPS said the wrong worklist entry was picked)."""
    return Study.objects.exclude(held_reason="").order_by("-last_received_at")


def refused_instances(days: int = 7):
    """Images the broker refused lately (C-STORE failure status): the modality believes they were sent."""
    return RejectedInstance.objects.filter(received_at__gte=timezone.now() - timedelta(days=days)).order_by("-received_at")


def refused_commitment_requests(days: int = 7):
    """Storage commitment N-ACTIONs the broker refused lately: the modality holds on to instances it cannot hand over."""
    since = timezone.now() - timedelta(days=days)
    return RefusedCommitmentRequest.objects.filter(received_at__gte=since).order_by("-received_at")


def given_up_commitments():
    """Storage commitment reports the modality never took: it still waits for them."""
    return StorageCommitment.objects.filter(state=DeliveryState.GAVE_UP).order_by("-created_at")


def internal_errors(days: int = 7):
    """The broker's own faults (tracebacks in its log) seen lately, newest first: a bug to report, not bad input."""
    return InternalError.objects.filter(last_at__gte=timezone.now() - timedelta(days=days)).order_by("-last_at")
