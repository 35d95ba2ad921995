"""Admin for remote AEs (configuration) and the worklist query log (read-only, identifier shown readably)."""
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin, AuditedViewAdmin
from broker.core import reachability
from broker.core.admin import ConnectionTestAdmin, ReadOnlyAdmin, dicom_html
from broker.dicom.forms import RemoteAEForm
from broker.dicom.models import RemoteAE, WorklistQuery
from worklist.mwl.scope import Scope


@admin.register(RemoteAE)
class RemoteAEAdmin(AuditedAdmin, ConnectionTestAdmin):
    form = RemoteAEForm
    list_display = ("ae_title", "host", "port", "use_tls", "character_set", "allowed_services", "worklist_scope", "auto_registered",
                    "last_seen", "refused_count", "last_refused_at", "description")
    list_filter = ("auto_registered", "character_set")
    search_fields = ("ae_title", "host", "description")
    # Set by the listener when the AE calls, not by people; "approve" turns an auto-registered AE into a known one.
    readonly_fields = ("auto_registered", "last_seen", "refused_count", "last_refused_at", "last_refused_address")
    actions = ["approve", "limit_to_own_station"]

    def try_connection(self, remote):
        """A C-ECHO to the AE where it listens (a modality's own Verification SCP)."""
        if not remote.host or not remote.port:
            return reachability.ConnectionTest(False, f"the AE {remote.ae_title} has no host and port set, so the "
                                                      f"broker cannot call it")
        return reachability.echo(calling_ae=settings.BROKER_AE_TITLE, called_ae=remote.ae_title, host=remote.host,
                                 port=remote.port, peer=f"the AE {remote.ae_title} at {remote.host}:{remote.port}",
                                 timeout=settings.BROKER_TEST_CONNECTION_TIMEOUT)

    @admin.display(description="worklist scope")
    def worklist_scope(self, remote):
        if not (remote.worklist_stations or remote.worklist_modalities):
            return "all" if not remote.auto_registered else "unknown AE: BROKER_MWL_UNKNOWN_AE_SCOPE"
        return Scope.of(remote.worklist_stations, remote.worklist_modalities).describe()

    @admin.action(description="Limit the worklist of the selected AEs to their own station AE title")
    def limit_to_own_station(self, request, queryset):
        limited = 0
        for remote in queryset.only("pk", "ae_title"):
            limited += RemoteAE.objects.filter(pk=remote.pk).update(worklist_stations=[remote.ae_title])
        self.message_user(request, f"{limited} AE(s) now see only the steps scheduled on their own station AE title "
                          f"(within a few seconds).")

    @admin.action(description="Approve: make the selected auto-registered AEs known")
    def approve(self, request, queryset):
        approved = queryset.filter(auto_registered=True).update(auto_registered=False)
        self.message_user(request, f"{approved} AE(s) approved; they may associate when BROKER_REQUIRE_KNOWN_AE is on.")


@admin.register(WorklistQuery)
class WorklistQueryAdmin(AuditedViewAdmin, ReadOnlyAdmin):
    audit_view_kind = events.VIEW_QUERY
    list_display = ("received_at", "calling_ae", "peer", "keys_summary", "match_count", "hidden_by_scope", "duration_ms",
                    "status_hex")
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
