"""Shared pieces of the broker apps' admin: read-only logs, readable raw data, actions that call an area."""
from django.contrib import messages

from broker.dashboard import readable
from broker.dashboard.actions import Unavailable, area_function
# The read-only bases live with the worklist (which may not import broker); the other apps share them.
from worklist.admin import ReadOnlyAdmin, ReadOnlyInline  # noqa: F401


def hl7_html(raw, codec: str = "utf-8"):
    from django.utils.html import format_html

    return format_html('<pre class="readable-hl7" style="white-space:pre-wrap;font-family:monospace">{}</pre>',
                       readable.hl7_html(raw, codec))


def dicom_html(json_dataset):
    return readable.dicom_html(json_dataset)


def run_for_each(model_admin, request, queryset, what: str, function_path: str):
    """Call an area's function for each selected row; report how many worked and the first refusal."""
    try:
        function = area_function(function_path)
    except Unavailable as exc:
        model_admin.message_user(request, f"Could not {what}: {exc}", messages.ERROR)
        return
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
