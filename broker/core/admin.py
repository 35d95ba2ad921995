"""Shared pieces of the broker apps' admin: read-only logs, readable raw data, actions that call an area."""
from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from broker.core import readable, tls


class PeerTLSForm(forms.ModelForm):
    """A peer with use_tls and tls_ca_file / tls_cert_file / tls_key_file: files that cannot be used are refused
    at save time rather than at the first connection (routing destinations, the RIS, MPPS destinations)."""

    TLS_FIELDS = ("tls_ca_file", "tls_cert_file", "tls_key_file")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("use_tls"):
            try:
                tls.client_context(*(cleaned.get(field) or "" for field in self.TLS_FIELDS))
            except tls.TLSConfigurationError as exc:
                raise forms.ValidationError(f"TLS: {exc}") from exc
        return cleaned


TLS_FIELDSET = ("TLS", {"fields": ("use_tls", *PeerTLSForm.TLS_FIELDS),
                        "description": "Files on the broker's host (PEM). The peer's certificate is checked against "
                                       "the CA file (the system's CAs when empty) and must name the host."})


class NoAddOrDeleteAdmin(admin.ModelAdmin):
    """Rows created by the protocols: never added by hand, never deleted (other rows and messages point at them)."""

    show_full_result_count = False  # a COUNT(*) per search is wasted work with 100,000 orders
    list_per_page = 50

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoAddOrDeleteAdmin):
    """A record a protocol wrote: seen, never edited by hand."""

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False



def hl7_html(raw, codec: str = "utf-8"):
    return format_html('<pre class="readable-hl7" style="white-space:pre-wrap;font-family:monospace">{}</pre>',
                       readable.hl7_html(raw, codec))


def dicom_html(json_dataset):
    return readable.dicom_html(json_dataset)


def run_for_each(model_admin, request, queryset, what: str, function):
    """Call the owning area's `function(pk)` for each selected row; report how many worked and the first refusals."""
    done, errors = 0, []
    for pk in queryset.values_list("pk", flat=True):
        try:
            function(pk)
            done += 1
        except Exception as exc:  # one refusal must not stop the others
            errors.append(f"#{pk}: {exc}")
    if done:
        model_admin.message_user(request, f"{what}: {done} done.", messages.SUCCESS)
    if errors:
        model_admin.message_user(request, f"Could not {what} {len(errors)}: {'; '.join(errors[:3])}", messages.ERROR)


class PermissionActionsMixin:
    """has_<name>_permission for the dashboard's custom action permissions, used by @admin.action(permissions=...)."""

    def has_manage_routing_permission(self, request):
        return request.user.has_perm("dashboard.manage_routing")

    def has_manage_outbound_permission(self, request):
        return request.user.has_perm("dashboard.manage_outbound")

    def has_replay_hl7_permission(self, request):
        return request.user.has_perm("dashboard.replay_hl7")
