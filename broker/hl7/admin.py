"""Admin for the HL7 message log (read-only, the raw message and its ACK one segment per line) and the sender rules."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin, AuditedViewAdmin
from broker.core.admin import ReadOnlyAdmin, hl7_html
from broker.core.readable import hl7_codec
from broker.hl7.forms import HL7SenderForm
from broker.hl7.lookups import hl7_message_types
from broker.hl7.models import HL7Message, HL7Sender


class MessageTypeFilter(admin.SimpleListFilter):
    """Message types from a cached list: a DISTINCT over the whole log on every page view is too slow at scale."""

    title = "message type"
    parameter_name = "message_type"

    def lookups(self, request, model_admin):
        return [(message_type, message_type) for message_type in hl7_message_types()]

    def queryset(self, request, queryset):
        return queryset.filter(message_type=self.value()) if self.value() else queryset


@admin.register(HL7Message)
class HL7MessageAdmin(AuditedViewAdmin, ReadOnlyAdmin):
    audit_view_kind = events.VIEW_HL7
    audit_patient_path = "patient__patient_id"
    list_display = ("received_at", "message_type", "order_control", "control_id", "sending_application", "sending_facility",
                    "outcome", "error_code", "error_location", "processing_ms")
    list_filter = ("outcome", "sender_refused", MessageTypeFilter, "received_at")
    search_fields = ("=control_id", "=order__accession_number", "=patient__patient_id", "error_text")
    exclude = ("raw", "ack")
    readonly_fields = ("raw_readable", "ack_readable", "dashboard_link")

    @admin.display(description="message as received")
    def raw_readable(self, message):
        return hl7_html(message.raw, hl7_codec(message))

    @admin.display(description="ACK sent")
    def ack_readable(self, message):
        return hl7_html(message.ack)

    @admin.display(description="dashboard")
    def dashboard_link(self, message):
        return format_html('<a href="{}">Message page (raw and ACK side by side, replay)</a>',
                           reverse("dashboard:hl7_detail", args=[message.pk]))


@admin.register(HL7Sender)
class HL7SenderAdmin(AuditedAdmin, admin.ModelAdmin):
    """Who may send HL7 when BROKER_HL7_REQUIRE_KNOWN_SENDER is on: list, add, edit."""

    form = HL7SenderForm

    list_display = ("name", "source", "sending_application", "sending_facility", "enabled", "description", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name", "source", "sending_application", "sending_facility", "description")
