"""Admin for the worklist: orders and steps come from the RIS over HL7, so what intake owns is read-only here.

Staff may correct what the protocols do not own (a station reassignment, a priority, a name typo after the RIS
fixed it); identifiers, UIDs and statuses stay as HL7 and MPPS set them.
"""
from django.contrib import admin
from django.core.cache import cache

from broker.audit import events
from broker.audit.admin_trail import AuditedAdmin, AuditedViewAdmin
from broker.core.admin import NoAddOrDeleteAdmin, ReadOnlyInline
from worklist.forms import StationAssignmentRuleForm
from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep, StationAssignmentRule
from worklist.names import search_key


def cached_values_filter(field: str, title: str):
    """A list filter whose choices (the distinct values of `field`) are remembered for a minute.

    Django's own field filter runs SELECT DISTINCT over the whole table on every page view; with 100,000 steps
    that is most of the page's time, and the set of stations and modalities hardly ever changes.
    """

    class CachedValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            key = f"admin-filter:{model_admin.model._meta.label}:{field}"
            values = cache.get(key)
            if values is None:
                values = list(model_admin.model.objects.order_by(field).values_list(field, flat=True).distinct())
                cache.set(key, values, 60)
            return [(value, value or "(none)") for value in values]

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() is not None else queryset

    CachedValuesFilter.title = title
    return CachedValuesFilter


class PatientNameSearch:
    """Search also matches the patient's accent-free name key: "müller" finds "MÜLLER^JÜRGEN"."""
    name_search_field = "name_search"

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        key = search_key(search_term.strip())
        if key:
            results = results | queryset.filter(**{f"{self.name_search_field}__startswith": key})
        return results, duplicates


class RequestedProcedureInline(ReadOnlyInline):
    model = RequestedProcedure
    fields = ("requested_procedure_id", "description", "code_value", "study_instance_uid")


class StepInline(ReadOnlyInline):
    model = ScheduledProcedureStep
    fields = ("sps_id", "modality", "station_ae_title", "start", "start_date_only", "status")


@admin.register(Patient)
class PatientAdmin(AuditedAdmin, AuditedViewAdmin, PatientNameSearch, NoAddOrDeleteAdmin):
    audit_view_kind = events.VIEW_PATIENT
    audit_kind = events.ADMIN_CORRECTION
    audit_patient_path = "patient_id"
    list_display = ("name", "patient_id", "issuer_of_patient_id", "birth_date", "sex", "merged_into", "updated_at")
    list_filter = ("sex", "issuer_of_patient_id", ("merged_into", admin.EmptyFieldListFilter))
    search_fields = ("=patient_id", "name")
    readonly_fields = ("patient_id", "issuer_of_patient_id", "issuer_universal_id", "issuer_universal_id_type",
                       "other_patient_ids", "merged_into", "created_at", "updated_at")
    list_select_related = ("merged_into",)


@admin.register(ImagingOrder)
class ImagingOrderAdmin(AuditedAdmin, AuditedViewAdmin, PatientNameSearch, NoAddOrDeleteAdmin):
    audit_view_kind = events.VIEW_ORDER
    audit_kind = events.ADMIN_CORRECTION
    audit_patient_path = "patient__patient_id"
    name_search_field = "patient__name_search"
    list_display = ("accession_number", "patient", "placer_order_number", "filler_order_number", "priority", "status", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("=accession_number", "=placer_order_number", "=filler_order_number", "=patient__patient_id", "patient__name")
    list_select_related = ("patient",)
    readonly_fields = ("patient", "placer_order_number", "placer_issuer", "filler_order_number", "filler_issuer",
                       "accession_number", "accession_issuer", "status", "sending_application", "sending_facility",
                       "hl7_version", "created_at", "updated_at")
    inlines = [RequestedProcedureInline]


@admin.register(RequestedProcedure)
class RequestedProcedureAdmin(AuditedAdmin, AuditedViewAdmin, NoAddOrDeleteAdmin):
    audit_view_kind = events.VIEW_ORDER
    audit_kind = events.ADMIN_CORRECTION
    audit_patient_path = "order__patient__patient_id"
    list_display = ("requested_procedure_id", "description", "order", "code_value", "study_instance_uid", "created_at")
    search_fields = ("=requested_procedure_id", "=study_instance_uid", "=order__accession_number", "description")
    list_filter = ("created_at",)
    list_select_related = ("order",)
    readonly_fields = ("order", "requested_procedure_id", "code_value", "code_scheme", "code_meaning",
                       "study_instance_uid", "created_at", "updated_at")
    inlines = [StepInline]


@admin.register(ScheduledProcedureStep)
class ScheduledProcedureStepAdmin(AuditedAdmin, AuditedViewAdmin, PatientNameSearch, NoAddOrDeleteAdmin):
    audit_view_kind = events.VIEW_ORDER
    audit_kind = events.ADMIN_CORRECTION
    audit_patient_path = "requested_procedure__order__patient__patient_id"
    name_search_field = "requested_procedure__order__patient__name_search"
    list_display = ("sps_id", "scheduled", "modality", "station_ae_title", "description", "patient_name", "accession", "status")
    list_filter = ("status", cached_values_filter("modality", "modality"),
                   cached_values_filter("station_ae_title", "station"), "start")
    search_fields = ("=sps_id", "=requested_procedure__order__accession_number",
                     "=requested_procedure__order__patient__patient_id", "requested_procedure__order__patient__name")
    list_select_related = ("requested_procedure__order__patient",)
    # Status follows MPPS and the RIS's order control; identifiers are what modalities already received.
    readonly_fields = ("requested_procedure", "sps_id", "status", "created_at", "updated_at")

    @admin.display(description="start", ordering="start")
    def scheduled(self, step):
        return step.start_text()  # the date alone when the RIS sent no time

    @admin.display(description="patient", ordering="requested_procedure__order__patient__name")
    def patient_name(self, step):
        return step.requested_procedure.order.patient.name

    @admin.display(description="accession", ordering="requested_procedure__order__accession_number")
    def accession(self, step):
        return step.requested_procedure.order.accession_number


@admin.register(StationAssignmentRule)
class StationAssignmentRuleAdmin(AuditedAdmin, admin.ModelAdmin):
    form = StationAssignmentRuleForm
    list_display = ("priority", "enabled", "match_modality", "match_procedure_code", "match_location", "station_ae_titles", "description")
    list_display_links = ("priority", "station_ae_titles")
    list_filter = ("enabled", "match_modality")
    search_fields = ("station_ae_titles", "match_procedure_code", "description")
