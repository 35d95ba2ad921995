"""Template helpers: readable raw messages and state badges."""
from django import template
from django.utils.html import format_html

from broker.core import readable

register = template.Library()

_TONES = {
    # step and order statuses
    "SCHEDULED": "neutral", "ARRIVED": "info", "READY": "info", "STARTED": "active", "IN_PROGRESS": "active",
    "COMPLETED": "ok", "DISCONTINUED": "warn", "CANCELED": "muted", "HELD": "warn",
    # MPPS
    "IN PROGRESS": "active",
    # HL7 ACK codes
    "AA": "ok", "AE": "bad", "AR": "bad",
    # routing and outbound delivery
    "WAITING": "neutral", "PENDING": "neutral", "RUNNING": "active", "DONE": "ok", "SENT": "ok",
    "FAILED": "warn", "GAVE_UP": "bad", "RECEIVING": "active", "COMPLETE": "ok",
}


@register.simple_tag
def badge(value, label=None):
    return format_html('<span class="badge {}">{}</span>', _TONES.get(str(value), "neutral"), label or value)


@register.filter
def hl7(raw, codec="utf-8"):
    return readable.hl7_html(raw, codec)


@register.filter
def dicom(json_dataset):
    return readable.dicom_html(json_dataset)


@register.filter
def percent(part, whole):
    try:
        return min(100, round(100 * int(part) / int(whole))) if int(whole) else 0
    except (TypeError, ValueError):
        return 0


@register.filter
def pn(value):
    """A DICOM person name for reading: 'DOE^JOHN' → 'DOE, JOHN'."""
    if not value:
        return ""
    first_group = str(value).split("=")[0]
    parts = [part for part in first_group.split("^") if part]
    if len(parts) >= 2:
        return f"{parts[0]}, {' '.join(parts[1:])}"
    return first_group



@register.filter
def scheduled_start(step, part="datetime"):
    """A step's start in the department's zone; the date alone for a date-only start (ScheduledProcedureStep.start_text)."""
    return step.start_text(part)
