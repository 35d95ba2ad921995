"""Exporting the trail: events of a time range, one per line, as DICOM audit messages (XML) or JSON."""
import getpass
import json
import socket
from datetime import datetime

from django.conf import settings

from broker.audit import events
from broker.audit.dicom_xml import AuditSource, to_xml
from broker.audit.models import AuditEvent
from broker.audit.trail import record

FORMATS = ("dicom-xml", "json")


def broker_source() -> AuditSource:
    return AuditSource(settings.BROKER_AE_TITLE, settings.BROKER_HL7_FACILITY, socket.gethostname())


def event_values(event: AuditEvent) -> dict:
    return {"id": event.pk, "time": event.time, "kind": event.kind, "outcome": event.outcome,
            "actor_user": event.actor_user, "actor_ae": event.actor_ae, "actor_address": event.actor_address,
            "patient_ids": event.patient_ids, "object_refs": event.object_refs, "detail": event.detail,
            "previous_hash": event.previous_hash, "hash": event.hash}


def as_json(event: AuditEvent) -> str:
    values = event_values(event)
    values["time"] = event.time.isoformat()
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def export_lines(since: datetime | None, until: datetime | None, fmt: str):
    """Yield one line per event (oldest first) in `fmt`; the export itself is recorded (Audit Log Used)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use {' or '.join(FORMATS)}")
    chosen = AuditEvent.objects.order_by("id")
    if since is not None:
        chosen = chosen.filter(time__gte=since)
    if until is not None:
        chosen = chosen.filter(time__lt=until)
    record(events.AUDIT_EXPORTED, user=getpass.getuser(), address=socket.gethostname(),
           detail={"since": since.isoformat() if since else "", "until": until.isoformat() if until else "",
                   "format": fmt})
    source = broker_source()
    for event in chosen.iterator(chunk_size=2000):
        yield to_xml(event_values(event), source) if fmt == "dicom-xml" else as_json(event)
