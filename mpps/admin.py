"""Admin for performed procedure steps: what modalities reported is a record, read-only here.

Linking an unscheduled MPPS to its steps is an operator action on the dashboard's MPPS page.
"""
import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from pydicom import Dataset

from broker.audit import events
from broker.audit.admin_trail import AuditedViewAdmin
from broker.core.admin import ReadOnlyAdmin, ReadOnlyInline
from mpps.models import MppsRequest, PerformedProcedureStep, PerformedSeries


def dicom_json_html(json_dataset):
    """A DICOM JSON dataset as "(gggg,eeee) Keyword VR value" lines; indented JSON when pydicom cannot read it."""
    try:
        lines = _lines(Dataset.from_json(json_dataset or {}), 0)
    except Exception:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', json.dumps(json_dataset, indent=2, ensure_ascii=False))
    return format_html('<pre style="white-space:pre-wrap">{}</pre>', "\n".join(lines) or "(empty)")


def _lines(dataset, depth):
    lines = []
    for element in dataset:
        pad = "  " * depth
        if element.VR == "SQ":
            lines.append(f"{pad}({element.tag.group:04X},{element.tag.element:04X}) {element.keyword} SQ, {len(element.value)} item(s)")
            for number, item in enumerate(element.value, 1):
                lines.append(f"{pad}  item {number}")
                lines.extend(_lines(item, depth + 2))
        else:
            value = f"<{len(element.value)} bytes>" if isinstance(element.value, bytes) else element.value
            lines.append(f"{pad}({element.tag.group:04X},{element.tag.element:04X}) {element.keyword} {element.VR}: {value}")
    return lines


class SeriesInline(ReadOnlyInline):
    model = PerformedSeries
    fields = ("series_instance_uid", "description", "retrieve_ae_title", "image_count")


@admin.register(PerformedProcedureStep)
class PerformedProcedureStepAdmin(AuditedViewAdmin, ReadOnlyAdmin):
    audit_view_kind = events.VIEW_MPPS
    audit_patient_path = "reported_patient_id"
    list_display = ("started_at", "performed_station_ae_title", "modality", "reported_patient_name", "reported_patient_id",
                    "accession_number", "status", "scheduled")
    list_filter = ("status", "modality", "performed_station_ae_title", "calling_ae", "created_at")
    search_fields = ("=sop_instance_uid", "=study_instance_uid", "=accession_number", "=reported_patient_id",
                     "reported_patient_name", "=pps_id")
    exclude = ("dataset",)
    readonly_fields = ("dataset_readable", "dashboard_link")
    inlines = [SeriesInline]

    @admin.display(boolean=True, description="scheduled")
    def scheduled(self, performed):
        return performed.scheduled_steps.exists()

    @admin.display(description="dataset (N-CREATE with N-SETs merged)")
    def dataset_readable(self, performed):
        return dicom_json_html(performed.dataset)

    @admin.display(description="dashboard")
    def dashboard_link(self, performed):
        return format_html('<a href="{}">MPPS page (link to scheduled steps)</a>', reverse("dashboard:mpps_detail", args=[performed.pk]))


@admin.register(PerformedSeries)
class PerformedSeriesAdmin(ReadOnlyAdmin):
    list_display = ("series_instance_uid", "description", "performed_step", "retrieve_ae_title", "image_count")
    search_fields = ("=series_instance_uid", "=performed_step__sop_instance_uid")
    list_select_related = ("performed_step",)


@admin.register(MppsRequest)
class MppsRequestAdmin(AuditedViewAdmin, ReadOnlyAdmin):
    audit_view_kind = events.VIEW_MPPS
    audit_patient_path = "performed_step__reported_patient_id"
    list_display = ("received_at", "operation", "calling_ae", "sop_instance_uid", "status_hex", "error_comment", "performed_step")
    list_filter = ("operation", "status", "calling_ae", "received_at")
    search_fields = ("=sop_instance_uid", "=calling_ae", "error_comment")
    list_select_related = ("performed_step",)
    exclude = ("dataset",)
    readonly_fields = ("dataset_readable",)

    @admin.display(description="status", ordering="status")
    def status_hex(self, request_row):
        return f"0x{request_row.status:04X}"

    @admin.display(description="attributes as received")
    def dataset_readable(self, request_row):
        return dicom_json_html(request_row.dataset)
