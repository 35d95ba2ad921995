"""Shared pieces of the broker apps' admin: read-only logs, readable raw data, actions that call an area, the
base of the configuration forms and the "Test connection" button."""
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import validators
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from broker.core import readable, tls
from broker.core.checks import check_ae_title, check_port
from broker.core.reachability import ConnectionTest

log = logging.getLogger(__name__)


class ConfigurationForm(forms.ModelForm):
    """A configuration form that says what is wrong instead of cutting it: no field carries the HTML maxlength
    (with it the browser silently stops at 16 characters of a 17-character AE title); the length is checked on
    save, with the field's own words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.pop("maxlength", None)
            if hasattr(self, f"clean_{name}"):  # the field's own check says it in its words (the model checks again)
                field.validators = [v for v in field.validators if not isinstance(v, validators.MaxLengthValidator)]


TLS_LABELS = {"use_tls": "Use TLS", "tls_ca_file": "TLS CA file", "tls_cert_file": "TLS client certificate file",
              "tls_key_file": "TLS client key file"}
TLS_HELP = {
    "use_tls": "Connect with TLS (DICOM PS3.15 Annex B / MLLP over TLS); the peer's certificate must name the host.",
    "tls_ca_file": "PEM file of the CA(s) that sign the peer's certificate, on the broker's host; empty = the "
                   "system's CAs.",
    "tls_cert_file": "PEM client certificate, for a peer that asks for one; empty = none is presented.",
    "tls_key_file": "Its unencrypted PEM private key, if not in the certificate file.",
}


class PeerTLSForm(ConfigurationForm):
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


class PeerAddressForm(PeerTLSForm):
    """The checks every DICOM or HL7 peer's address gets, the same as the commands': a port that exists, a host
    without stray spaces, an AE title the standard allows (for a peer that has one; never cut)."""

    def clean_port(self):
        return check_port(self.cleaned_data.get("port"))

    def clean_host(self):
        return (self.cleaned_data.get("host") or "").strip()

    def clean_ae_title(self):
        return check_ae_title(self.cleaned_data.get("ae_title"))


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


class ConnectionTestAdmin(admin.ModelAdmin):
    """A "Test connection" button on the change page of a peer: it tests the saved settings once and shows the
    result in words as the page's message. Subclasses say how: try_connection(obj) -> ConnectionTest."""

    change_form_template = "admin/broker/test_connection_change_form.html"

    def try_connection(self, obj) -> ConnectionTest:
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_test_connection"
        return [path("<path:object_id>/test-connection/", self.admin_site.admin_view(self.connection_test_view),
                     name=name), *super().get_urls()]

    def connection_test_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"no {self.opts.verbose_name} {object_id}")
        if not self.has_view_or_change_permission(request, obj):
            raise admin.sites.PermissionDenied
        result = self.try_connection(obj)
        log.info("test connection of %s %s by %s: %s", self.opts.verbose_name, obj.pk, request.user, result.words)
        self.message_user(request, f"Test connection: {result.words}.", messages.SUCCESS if result.ok else messages.ERROR)
        return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                                            args=[obj.pk]))
