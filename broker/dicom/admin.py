"""Admin for remote AEs (configuration) and the worklist query log (read-only, identifier shown readably)."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from broker.core.admin import ReadOnlyAdmin, dicom_html
from broker.dicom.models import RemoteAE, WorklistQuery


@admin.register(RemoteAE)
class RemoteAEAdmin(admin.ModelAdmin):
    list_display = ("ae_title", "host", "port", "character_set", "allowed_services", "auto_registered", "last_seen",
                    "refused_count", "last_refused_at", "description")
    list_filter = ("auto_registered", "character_set")
    search_fields = ("ae_title", "host", "description")
    # Set by the listener when the AE calls, not by people; "approve" turns an auto-registered AE into a known one.
    readonly_fields = ("auto_registered", "last_seen", "refused_count", "last_refused_at", "last_refused_address")
    actions = ["approve"]

    @admin.action(description="Approve: make the selected auto-registered AEs known")
    def approve(self, request, queryset):
        approved = queryset.filter(auto_registered=True).update(auto_registered=False)
        self.message_user(request, f"{approved} AE(s) approved; they may associate when BROKER_REQUIRE_KNOWN_AE is on.")


@admin.register(WorklistQuery)
class WorklistQueryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "calling_ae", "peer", "keys_summary", "match_count", "duration_ms", "status_hex")
    list_filter = ("calling_ae", "status", "received_at")
    search_fields = ("=calling_ae", "keys_summary")
    exclude = ("identifier",)
    readonly_fields = ("identifier_readable", "explain_link")

    @admin.display(description="status", ordering="status")
    def status_hex(self, query):
        return f"0x{query.status:04X}"

    @admin.display(description="request identifier")
    def identifier_readable(self, query):
        return dicom_html(query.identifier)

    @admin.display(description="explain")
    def explain_link(self, query):
        return format_html('<a href="{}">Why was a patient not returned?</a>', reverse("dashboard:query_detail", args=[query.pk]))
