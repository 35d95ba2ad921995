"""Admin for the RIS endpoint and MPPS destinations (configuration) and the outbound queues (read-only, with actions)."""
from django.contrib import admin

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin
from broker.core.admin import (
    TLS_FIELDSET,
    ConnectionTestAdmin,
    PermissionActionsMixin,
    ReadOnlyAdmin,
    dicom_html,
    hl7_html,
    run_for_each,
)
from broker.outbound import connection_test, services
from broker.outbound.forms import MppsDestinationForm, RisEndpointForm
from broker.outbound.models import MppsDestination, MppsForward, RisEndpoint, RisNotification


@admin.register(RisEndpoint)
class RisEndpointAdmin(AuditedAdmin, ConnectionTestAdmin):
    form = RisEndpointForm
    list_display = ("name", "host", "port", "enabled", "use_tls", "message_format", "receiving_application",
                    "receiving_facility", "timeout_seconds")
    list_filter = ("enabled", "use_tls", "message_format")
    search_fields = ("name", "host")
    fieldsets = [(None, {"fields": ("name", "host", "port", "enabled", "message_format", "receiving_application",
                                    "receiving_facility", "timeout_seconds", "match_sending_application")}),
                 TLS_FIELDSET]

    def try_connection(self, obj):
        return connection_test.try_ris(obj)


@admin.register(MppsDestination)
class MppsDestinationAdmin(AuditedAdmin, ConnectionTestAdmin):
    form = MppsDestinationForm
    list_display = ("name", "ae_title", "host", "port", "enabled", "use_tls", "description")
    list_filter = ("enabled", "use_tls")
    search_fields = ("name", "ae_title", "host")
    fieldsets = [(None, {"fields": ("name", "ae_title", "host", "port", "enabled", "description")}), TLS_FIELDSET]

    def try_connection(self, obj):
        return connection_test.try_mpps_destination(obj)


@admin.register(RisNotification)
class RisNotificationAdmin(AuditedAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    audit_kind = events.ADMIN_ACTION
    audit_patient_path = "order__patient__patient_id"
    list_display = ("created_at", "order", "event", "endpoint", "state", "attempts", "next_attempt_at", "sent_at", "control_id")
    list_filter = ("state", "event", "endpoint", "created_at")
    search_fields = ("=control_id", "=order__accession_number", "=order__patient__patient_id")
    list_select_related = ("order", "endpoint")
    exclude = ("message", "ack")
    readonly_fields = ("message_readable", "ack_readable")
    actions = ["retry", "give_up"]

    @admin.display(description="message as sent")
    def message_readable(self, notification):
        return hl7_html(notification.message)

    @admin.display(description="ACK received")
    def ack_readable(self, notification):
        return hl7_html(notification.ack)

    @admin.action(description="Retry the selected notifications now", permissions=["manage_outbound"])
    def retry(self, request, queryset):
        run_for_each(self, request, queryset, "retry RIS notification", services.retry_notification)

    @admin.action(description="Give up the selected notifications", permissions=["manage_outbound"])
    def give_up(self, request, queryset):
        run_for_each(self, request, queryset, "give up RIS notification", services.give_up_notification)


@admin.register(MppsForward)
class MppsForwardAdmin(AuditedAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    audit_kind = events.ADMIN_ACTION
    audit_patient_path = "performed_step__reported_patient_id"
    list_display = ("created_at", "performed_step", "operation", "sequence", "destination", "state", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("state", "operation", "destination", "created_at")
    search_fields = ("=performed_step__sop_instance_uid", "=performed_step__accession_number")
    list_select_related = ("performed_step", "destination")
    exclude = ("dataset",)
    readonly_fields = ("dataset_readable",)
    actions = ["retry", "give_up"]

    @admin.display(description="dataset sent")
    def dataset_readable(self, forward):
        return dicom_html(forward.dataset)

    @admin.action(description="Retry the selected forwards now", permissions=["manage_outbound"])
    def retry(self, request, queryset):
        run_for_each(self, request, queryset, "retry MPPS forward", services.retry_forward)

    @admin.action(description="Give up the selected forwards", permissions=["manage_outbound"])
    def give_up(self, request, queryset):
        run_for_each(self, request, queryset, "give up MPPS forward", services.give_up_forward)
