"""Admin for the IAN subscribers (configuration) and the IAN queue (read-only, with retry / give-up actions)."""
from django.contrib import admin

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin
from broker.availability import services
from broker.availability.forms import IanSubscriberForm
from broker.availability.models import AvailabilityNotification, IanSubscriber
from broker.core.admin import (
    TLS_FIELDSET,
    ConnectionTestAdmin,
    PermissionActionsMixin,
    ReadOnlyAdmin,
    dicom_html,
    run_for_each,
)
from broker.outbound.connection_test import try_dicom_peer


@admin.register(IanSubscriber)
class IanSubscriberAdmin(AuditedAdmin, ConnectionTestAdmin):
    form = IanSubscriberForm
    list_display = ("name", "ae_title", "host", "port", "enabled", "trigger", "use_tls", "description")
    list_filter = ("enabled", "trigger", "use_tls")
    search_fields = ("name", "ae_title", "host")
    fieldsets = [(None, {"fields": ("name", "ae_title", "host", "port", "enabled", "trigger", "description")}),
                 TLS_FIELDSET]

    def try_connection(self, obj):
        return try_dicom_peer(obj, "IAN subscriber")


@admin.register(AvailabilityNotification)
class AvailabilityNotificationAdmin(AuditedAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    audit_kind = events.ADMIN_ACTION
    audit_patient_path = "study__patient_id"
    list_display = ("created_at", "study", "event", "subscriber", "instance_count", "state", "attempts",
                    "next_attempt_at", "sent_at", "response_status")
    list_filter = ("state", "event", "subscriber", "created_at")
    search_fields = ("=study__study_instance_uid", "=study__accession_number", "=sop_instance_uid")
    list_select_related = ("study", "subscriber")
    exclude = ("dataset",)
    readonly_fields = ("dataset_readable",)
    actions = ["retry", "give_up"]

    @admin.display(description="dataset sent")
    def dataset_readable(self, notification):
        return dicom_html(notification.dataset)

    @admin.action(description="Retry the selected notifications now", permissions=["manage_outbound"])
    def retry(self, request, queryset):
        run_for_each(self, request, queryset, "retry IAN", services.retry)

    @admin.action(description="Give up the selected notifications", permissions=["manage_outbound"])
    def give_up(self, request, queryset):
        run_for_each(self, request, queryset, "give up IAN", services.give_up)
