"""Admin for destinations and routing rules (configuration), and received studies and routing jobs (read-only, with actions)."""
from django.conf import settings
from django.contrib import admin

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin, AuditedViewAdmin
from broker.core import reachability
from broker.core.admin import (
    TLS_FIELDSET,
    ConnectionTestAdmin,
    PermissionActionsMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    run_for_each,
)
from broker.routing import services, tls
from broker.routing.forms import DestinationForm, RoutingRuleForm
from broker.routing.models import (
    DeliveredInstance,
    Destination,
    RejectedInstance,
    RoutingJob,
    RoutingRule,
    StoredInstance,
    Study,
)


def try_destination(destination: Destination) -> reachability.ConnectionTest:
    """A C-ECHO from the broker's AE title to the destination, with its TLS settings."""
    peer = f"the destination {destination.name} ({destination.ae_title}) at {destination.host}:{destination.port}"
    try:
        context = tls.client_context(destination) if destination.use_tls else None
    except tls.TLSConfigurationError as exc:
        return reachability.ConnectionTest(False, f"TLS configuration of {peer}: {exc}")
    return reachability.echo(calling_ae=settings.BROKER_AE_TITLE, called_ae=destination.ae_title,
                             host=destination.host, port=destination.port, peer=peer, ssl_context=context,
                             timeout=settings.BROKER_TEST_CONNECTION_TIMEOUT)


@admin.register(Destination)
class DestinationAdmin(AuditedAdmin, ConnectionTestAdmin):
    form = DestinationForm
    list_display = ("name", "ae_title", "host", "port", "enabled", "max_associations", "use_tls", "description")
    list_filter = ("enabled", "use_tls")
    search_fields = ("name", "ae_title", "host")
    fieldsets = [(None, {"fields": ("name", "ae_title", "host", "port", "enabled", "max_associations", "description")}),
                 TLS_FIELDSET]

    def try_connection(self, obj):
        return try_destination(obj)


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin, admin.ModelAdmin):
    form = RoutingRuleForm
    list_display = ("priority", "name", "enabled", "action", "match_calling_ae", "match_modality", "match_station",
                    "match_procedure_code", "match_study_description", "destination_names")
    list_display_links = ("name",)
    list_filter = ("enabled", "action", "match_modality")
    search_fields = ("name", "match_calling_ae", "match_station", "match_procedure_code")
    filter_horizontal = ("destinations",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("destinations")

    @admin.display(description="destinations")
    def destination_names(self, rule):
        return ", ".join(destination.name for destination in rule.destinations.all())


class JobInline(ReadOnlyInline):
    model = RoutingJob
    fields = ("destination", "action", "state", "sent", "total", "attempts", "last_error", "finished_at")


@admin.register(Study)
class StudyAdmin(AuditedAdmin, AuditedViewAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    audit_view_kind = events.VIEW_PATIENT
    audit_kind = events.ADMIN_ACTION
    audit_patient_path = "patient_id"
    list_display = ("last_received_at", "accession_number", "patient_name", "patient_id", "modalities", "calling_ae",
                    "state", "completion_reason", "missing_instances", "held_reason")
    list_filter = ("state", "completion_reason", "calling_ae", "last_received_at")
    search_fields = ("=study_instance_uid", "=accession_number", "=patient_id", "patient_name")
    inlines = [JobInline]
    actions = ["mark_complete", "release"]

    @admin.action(description="Mark the selected studies complete (start routing now)", permissions=["manage_routing"])
    def mark_complete(self, request, queryset):
        run_for_each(self, request, queryset, "mark study complete", services.mark_study_complete)

    @admin.action(description="Release the selected held studies (route them by the rules)", permissions=["manage_routing"])
    def release(self, request, queryset):
        run_for_each(self, request, queryset, "release study", services.release_study)


@admin.register(StoredInstance)
class StoredInstanceAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "sop_instance_uid", "series_instance_uid", "modality", "sop_class_uid", "size", "calling_ae", "deleted_at")
    list_filter = ("modality", "calling_ae", "received_at")
    search_fields = ("=sop_instance_uid", "=series_instance_uid", "=study__study_instance_uid", "=study__accession_number")


@admin.register(RoutingJob)
class RoutingJobAdmin(AuditedAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    audit_kind = events.ADMIN_ACTION
    audit_patient_path = "study__patient_id"
    list_display = ("created_at", "accession", "patient", "destination", "action", "state", "progress", "attempts",
                    "next_attempt_at", "short_error")
    list_filter = ("state", "destination", "action", "created_at")
    search_fields = ("=study__study_instance_uid", "=study__accession_number", "=study__patient_id")
    list_select_related = ("study", "destination")
    actions = ["retry", "give_up"]

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.sent}/{job.total}"

    @admin.display(description="accession", ordering="study__accession_number")
    def accession(self, job):
        return job.study.accession_number or job.study.study_instance_uid

    @admin.display(description="patient", ordering="study__patient_name")
    def patient(self, job):
        return job.study.patient_name

    @admin.display(description="last error")
    def short_error(self, job):
        return job.last_error if len(job.last_error) <= 80 else job.last_error[:79] + "…"

    @admin.action(description="Retry the selected jobs now", permissions=["manage_routing"])
    def retry(self, request, queryset):
        run_for_each(self, request, queryset, "retry routing job", services.retry_job)

    @admin.action(description="Give up the selected jobs", permissions=["manage_routing"])
    def give_up(self, request, queryset):
        run_for_each(self, request, queryset, "give up routing job", services.give_up_job)


@admin.register(DeliveredInstance)
class DeliveredInstanceAdmin(ReadOnlyAdmin):
    list_display = ("delivered_at", "job", "instance")
    search_fields = ("=instance__sop_instance_uid",)
    list_select_related = ("job__study", "job__destination", "instance")


@admin.register(RejectedInstance)
class RejectedInstanceAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "calling_ae", "sop_instance_uid", "sop_class_uid", "status_hex", "error_comment")
    list_filter = ("calling_ae", "status", "received_at")
    search_fields = ("=sop_instance_uid", "=calling_ae", "error_comment")

    @admin.display(description="status", ordering="status")
    def status_hex(self, rejected):
        return f"0x{rejected.status:04X}"
