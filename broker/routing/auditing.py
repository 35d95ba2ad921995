"""The audit events of storage and routing: a study's first instance, its completion, each delivery (to whom)."""
from django.db.models import Count

from broker.audit import events
from broker.audit.models import AuditEvent
from broker.audit.trail import record
from broker.routing.models import StoredInstance


def _study(study, **extra) -> dict:
    return {"type": "study", "uid": study.study_instance_uid, "id": study.pk, "accession": study.accession_number,
            **extra}


def _sop_classes(study_id: int) -> dict[str, int]:
    rows = (StoredInstance.objects.filter(study_id=study_id).values("sop_class_uid")
            .annotate(n=Count("pk")).order_by("sop_class_uid"))
    return {row["sop_class_uid"]: row["n"] for row in rows}


def study_begun(study, calling_ae: str) -> None:
    """The first instance of a study (once per study, not per instance)."""
    record(events.STUDY_BEGIN, ae=calling_ae, patient_ids=[study.patient_id], objects=[_study(study)])


def study_received(study) -> None:
    """A complete study: one query for its SOP classes and instance counts, once per study."""
    classes = _sop_classes(study.pk)
    record(events.STUDY_RECEIVED, ae=study.calling_ae, patient_ids=[study.patient_id],
           objects=[_study(study, sop_classes=classes, instances=sum(classes.values()))],
           detail={"completion_reason": study.completion_reason, "missing_instances": study.missing_instances})


def delivered(job, sent: int | None, total: int | None) -> None:
    study, destination = job.study, job.destination
    record(events.ROUTING_DELIVERED, ae=destination.ae_title, address=f"{destination.host}:{destination.port}",
           patient_ids=[study.patient_id],
           objects=[_study(study, instances=sent), {"type": "destination", "name": destination.name,
                                                    "ae": destination.ae_title, "job_id": job.pk}],
           detail={"action_kind": job.action, "sent": sent, "total": total})


def delivery_gave_up(job, error: str) -> None:
    study, destination = job.study, job.destination
    record(events.ROUTING_DELIVERED, outcome=AuditEvent.Outcome.SERIOUS_FAILURE, ae=destination.ae_title,
           address=f"{destination.host}:{destination.port}", patient_ids=[study.patient_id],
           objects=[_study(study), {"type": "destination", "name": destination.name, "ae": destination.ae_title,
                                    "job_id": job.pk}],
           detail={"action_kind": job.action, "error": error[:200]})
