"""The audit trail in the admin: seen by administrators, added, changed or deleted by nobody (superusers included);
and the accounts and roles admins, audited."""
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from broker.audit import events, forwarding
from broker.audit.admin_trail import AuditedAdmin
from broker.audit.models import AuditEvent, AuditForward
from broker.core.admin import PermissionActionsMixin, ReadOnlyAdmin, run_for_each


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


class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    """Accounts and their roles are security configuration: every change recorded, passwords never."""

    audit_hidden_fields = ("password", "password1", "password2", "usable_password")

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            self._audit(request, self.audit_kind, "U", [user], {"before": {}, "after": {"password": "(changed)"}})
        return response


class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    """The roles' permissions are security configuration too."""


# django.contrib.auth registered its own admins first (it comes earlier in INSTALLED_APPS).
for model, model_admin in ((User, AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)


@admin.register(AuditForward)
class AuditForwardAdmin(AuditedAdmin, PermissionActionsMixin, ReadOnlyAdmin):
    """The syslog outbox (BROKER_AUDIT_SYSLOG): seen read-only, retried or given up by an operator."""

    audit_kind = events.ADMIN_ACTION
    list_display = ("created_at", "event", "target", "state", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("state", "target", "created_at")
    search_fields = ("=event__id",)
    list_select_related = ("event",)
    actions = ["retry", "give_up"]

    @admin.action(description="Retry the selected audit forwards now", permissions=["manage_outbound"])
    def retry(self, request, queryset):
        run_for_each(self, request, queryset, "retry audit forward", forwarding.retry)

    @admin.action(description="Give up the selected audit forwards", permissions=["manage_outbound"])
    def give_up(self, request, queryset):
        run_for_each(self, request, queryset, "give up audit forward", forwarding.give_up)
