"""Every save, delete and bulk action through an admin page, with the values before and after, as an audit event.

`AuditedAdmin` goes first in a ModelAdmin's bases. The admin's change and delete views run in a transaction, so the
event commits or rolls back with the change it records.
"""
from django.contrib.admin import helpers
from django.db import models
from django.forms.models import model_to_dict

from broker.audit import events
from broker.audit.trail import actor_of, record


def plain(value):
    """A form or model value as JSON: model rows by their text, querysets and lists item by item."""
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (models.QuerySet, list, tuple, set)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class AuditedAdmin:
    audit_kind = events.ADMIN_CONFIGURATION  # or events.ADMIN_CORRECTION for patients, orders, steps
    audit_patient_path = ""  # ORM path from the model to the Patient ID, when the rows belong to a patient
    audit_hidden_fields = ()  # never shown in the trail (none of the broker's configuration is secret)

    def _audit_patient_ids(self, pks) -> list[str]:
        if not self.audit_patient_path:
            return []
        return list(self.model._default_manager.filter(pk__in=list(pks))
                    .values_list(self.audit_patient_path, flat=True))

    def _audit_values(self, values: dict) -> dict:
        return {name: "(hidden)" if name in self.audit_hidden_fields else plain(value) for name, value in values.items()}

    def _audit(self, request, kind: str, action: str, rows: list, detail: dict) -> None:
        label = self.model._meta.label_lower
        record(kind, **actor_of(request), patient_ids=self._audit_patient_ids(r.pk for r in rows),
               objects=[{"type": label, "id": r.pk, "name": str(r)[:200]} for r in rows],
               detail={"action": action, "model": label, **detail})

    def save_model(self, request, obj, form, change):
        changed = list(form.changed_data)
        before = self._audit_values({name: form.initial.get(name) for name in changed}) if change else {}
        super().save_model(request, obj, form, change)
        after = self._audit_values({name: form.cleaned_data.get(name) for name in changed})
        self._audit(request, self.audit_kind, "U" if change else "C", [obj], {"before": before, "after": after})

    def delete_model(self, request, obj):
        before = self._audit_values(model_to_dict(obj))
        self._audit(request, self.audit_kind, "D", [obj], {"before": before, "after": {}})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        rows = list(queryset)
        self._audit(request, self.audit_kind, "D", rows,
                    {"before": {str(r.pk): self._audit_values(model_to_dict(r)) for r in rows}, "after": {}})
        super().delete_queryset(request, queryset)

    def response_action(self, request, queryset):
        """A bulk action: which, by whom, on which rows (deletion is recorded by delete_queryset, when confirmed)."""
        name = request.POST.get("action", "")
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        response = super().response_action(request, queryset)
        if name and name != "delete_selected" and name in self.get_actions(request) and selected:
            rows = list(queryset.filter(pk__in=selected))
            self._audit(request, events.ADMIN_ACTION, "E", rows, {"admin_action": name})
        return response


class AuditedViewAdmin:
    """An admin whose record page shows one patient's data: each opening of it (GET) is a view event."""

    audit_view_kind = events.VIEW_PATIENT
    audit_patient_path = ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and getattr(response, "status_code", 0) == 200:
            label = self.model._meta.label_lower
            patient_ids = []
            if self.audit_patient_path:
                patient_ids = list(self.model._default_manager.filter(pk=object_id)
                                   .values_list(self.audit_patient_path, flat=True))
            record(self.audit_view_kind, **actor_of(request), patient_ids=patient_ids,
                   objects=[{"type": label, "id": object_id}], detail={"path": request.path})
        return response
