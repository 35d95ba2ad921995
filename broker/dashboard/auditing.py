"""The audit events of people on the dashboard: each action they take and each page with one patient's data they open."""
from broker.audit import events
from broker.audit.models import AuditEvent
from broker.audit.trail import actor_of, record
from broker.availability.models import AvailabilityNotification
from broker.outbound.models import MppsForward, RisNotification
from broker.routing.models import RoutingJob, Study
from mpps.models import PerformedProcedureStep

# The patient an action's object belongs to: (model, path to the Patient ID as the department knows it).
_PATIENT_OF = {
    "routing_job": (RoutingJob, "study__patient_id"),
    "study": (Study, "patient_id"),
    "ris_notification": (RisNotification, "order__patient__patient_id"),
    "mpps_forward": (MppsForward, "performed_step__reported_patient_id"),
    "availability_notification": (AvailabilityNotification, "study__patient_id"),
    "mpps": (PerformedProcedureStep, "reported_patient_id"),
}


def patient_ids_of(object_type: str, pk: int) -> list[str]:
    model, path = _PATIENT_OF[object_type]
    return [value for value in model.objects.filter(pk=pk).values_list(path, flat=True) if value]


def action(request, name: str, object_type: str, pk: int, *, done: bool, patient_ids=None, **detail) -> None:
    """One dashboard action (done or refused), in the transaction of what it did."""
    record(events.DASHBOARD_ACTION, outcome=AuditEvent.Outcome.SUCCESS if done else AuditEvent.Outcome.MINOR_FAILURE,
           **actor_of(request), patient_ids=patient_ids if patient_ids is not None else patient_ids_of(object_type, pk),
           objects=[{"type": object_type, "id": pk}], detail={"action_name": name, **detail})


def viewed(request, kind: str, object_type: str, pk: int, patient_ids, **refs) -> None:
    """A page that shows one patient's data was opened (the pages' own auto-refresh is not a new view)."""
    if request.headers.get("X-Refresh") == "1":
        return
    record(kind, **actor_of(request), patient_ids=patient_ids, objects=[{"type": object_type, "id": pk, **refs}],
           detail={"path": request.path})
