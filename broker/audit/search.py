"""Finding audit events for a person reading the trail: by person, patient, AE, kind and time, newest first.

Each filter is an index lookup: the actor columns and (kind, time) have B-tree indexes; the patient filter is JSON
containment (`patient_ids @> '["P1"]'`) on PostgreSQL, answered by the GIN index of migration 0004. SQLite has no
such index: there the patient filter reads only the newest SQLITE_PATIENT_SCAN events (a notice says so when the
trail is longer), one `json_each` per row, exact match.
"""
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import BooleanField, Max, Q, QuerySet
from django.db.models.expressions import RawSQL

from broker.audit.models import AuditEvent

SQLITE_PATIENT_SCAN = 100_000


@dataclass(frozen=True)
class TrailFilter:
    person: str = ""
    patient: str = ""
    ae: str = ""
    kind: str = ""
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def as_detail(self) -> dict:
        """The filters as an audit event's detail records them (what the reader asked to see)."""
        values = {"person": self.person, "patient": self.patient, "ae": self.ae, "kind": self.kind,
                  "since": self.since.isoformat() if self.since else "", "until": self.until.isoformat() if self.until else ""}
        return {name: value for name, value in values.items() if value}


def _ae_spellings(ae: str) -> Q:
    """AE titles and HL7 senders ("RIS|HOSP") as typed in any case; each spelling an index lookup (a prefix for a
    sender's facility)."""
    spellings = {ae, ae.upper(), ae.lower()}
    query = Q(actor_ae__in=spellings)
    for spelling in spellings:
        query |= Q(actor_ae__startswith=f"{spelling}|")
    return query


def _with_patient(events: QuerySet, patient: str) -> tuple[QuerySet, bool]:
    """Events whose patient IDs contain `patient` exactly; True when SQLite's scan left older events unread."""
    if connection.vendor == "postgresql":
        return events.filter(patient_ids__contains=[patient]), False
    newest = AuditEvent.objects.aggregate(newest=Max("id"))["newest"] or 0
    floor = newest - SQLITE_PATIENT_SCAN
    inside = RawSQL("EXISTS (SELECT 1 FROM json_each(audit_auditevent.patient_ids) WHERE json_each.value = %s)",
                    (patient,), output_field=BooleanField())
    return events.filter(inside, id__gt=floor), floor > 0


def matching(trail_filter: TrailFilter) -> tuple[QuerySet, bool]:
    """The events the filter asks for, newest first, and whether the patient search was cut short (SQLite only)."""
    events = AuditEvent.objects.order_by("-id")
    if trail_filter.person:
        events = events.filter(actor_user=trail_filter.person)
    if trail_filter.ae:
        events = events.filter(_ae_spellings(trail_filter.ae))
    if trail_filter.kind:
        events = events.filter(kind=trail_filter.kind)
    if trail_filter.since:
        events = events.filter(time__gte=trail_filter.since)
    if trail_filter.until:
        events = events.filter(time__lt=trail_filter.until)
    cut_short = False
    if trail_filter.patient:
        events, cut_short = _with_patient(events, trail_filter.patient)
    return events, cut_short
