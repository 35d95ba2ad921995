"""The audit trail in the admin: seen by administrators, added, changed or deleted by nobody (superusers included)."""
from django.contrib import admin

from broker.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("id", "time", "kind", "outcome", "actor_user", "actor_ae", "actor_address", "patient_ids")
    list_filter = ("kind", "outcome")
    search_fields = ("actor_user", "actor_ae", "actor_address", "kind")
    date_hierarchy = "time"
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def get_actions(self, request):
        return {}  # no bulk delete, no other bulk action

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
