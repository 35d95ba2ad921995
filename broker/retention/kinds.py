"""The logs the retention purge keeps short: per kind, its model, time field, days setting and what is still needed.

Adding a log is one more `Kind` in KINDS. The audit trail is purged from the start of its chain only, and the
trail itself says where the kept chain starts (`before_delete`: broker.audit.trail.forget). `still_needed` returns a Q of the rows that must stay
however old they are; it is built from EXISTS and non-null columns only, so its negation is exact in SQL.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from broker.audit import trail
from broker.audit.models import AuditEvent
from broker.dicom.models import WorklistQuery
from broker.hl7.models import HL7Message
from broker.retention import tallies
from mpps.models import MppsRequest, PerformedProcedureStep
from worklist.models import ImagingOrder

OPEN_ORDER_STATUSES = (ImagingOrder.Status.SCHEDULED, ImagingOrder.Status.IN_PROGRESS, ImagingOrder.Status.HELD)


@dataclass(frozen=True)
class Kind:
    name: str  # the label in /metrics and in manage.py purge
    model: type
    time_field: str
    days_setting: str
    still_needed: Callable[[], Q] | None = None
    tally: tallies.Source | None = None  # /metrics counts these rows: they go only once the tally holds them
    before_delete: Callable[[list[int]], None] | None = None  # in the deleting transaction, with the ids

    @property
    def days(self) -> int:
        return getattr(settings, self.days_setting)

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)

    def expired(self, now: datetime) -> QuerySet:
        """Rows older than the retention period that nothing still needs (without the tally's bound)."""
        rows = self.model.objects.filter(**{f"{self.time_field}__lt": self.cutoff(now)})
        return rows.exclude(self.still_needed()) if self.still_needed else rows


def hl7_still_needed() -> Q:
    """Unresolved problems (AE/AR nobody replayed: the problems page), the latest message of an order still open
    (its timeline and what the RIS last said about it), and a replay whose rejected original is still kept (else
    the original would show as unreplayed again)."""
    unresolved = Q(outcome__in=[HL7Message.Outcome.ERROR, HL7Message.Outcome.REJECTED], replayed_as__isnull=True)
    open_order = Exists(ImagingOrder.objects.filter(pk=OuterRef("order_id"), status__in=OPEN_ORDER_STATUSES))
    newer_for_order = Exists(HL7Message.objects.filter(order_id=OuterRef("order_id"), pk__gt=OuterRef("pk")))
    replay_of_kept = Exists(HL7Message.objects.filter(replayed_as_id=OuterRef("pk")))
    return unresolved | (open_order & ~newer_for_order) | replay_of_kept


def mpps_journal_still_needed() -> Q:
    """Every request about an MPPS still IN PROGRESS (linked, or a refused N-SET naming its SOP Instance UID)."""
    in_progress = PerformedProcedureStep.objects.filter(status=PerformedProcedureStep.Status.IN_PROGRESS)
    return (Exists(in_progress.filter(pk=OuterRef("performed_step_id")))
            | Exists(in_progress.filter(sop_instance_uid=OuterRef("sop_instance_uid"))))


def audit_still_needed() -> Q:
    """The chain is purged from its start only: every event from the first one within the period on, and the
    newest event always (the chain head names it)."""
    cutoff = timezone.now() - timedelta(days=settings.BROKER_RETENTION_AUDIT_DAYS)
    first_kept = AuditEvent.objects.filter(time__gte=cutoff).order_by("pk").values_list("pk", flat=True).first()
    newest = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    keep = Q(pk=newest) if newest is not None else Q(pk__in=[])
    return keep | Q(pk__gte=first_kept) if first_kept is not None else keep


KINDS = (
    Kind("hl7", HL7Message, "received_at", "BROKER_RETENTION_HL7_DAYS", hl7_still_needed, tallies.HL7),
    Kind("queries", WorklistQuery, "received_at", "BROKER_RETENTION_QUERIES_DAYS", None, tallies.QUERIES),
    Kind("mpps_journal", MppsRequest, "received_at", "BROKER_RETENTION_MPPS_JOURNAL_DAYS", mpps_journal_still_needed),
    Kind("audit", AuditEvent, "time", "BROKER_RETENTION_AUDIT_DAYS", audit_still_needed, before_delete=trail.forget),
)


def by_name(names) -> list[Kind]:
    known = {kind.name: kind for kind in KINDS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(f"unknown kind {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]
