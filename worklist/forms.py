"""The admin form of a station assignment rule: the stations as AE titles, the modality as a code string."""
from django.core.exceptions import ValidationError

from broker.core.admin import ConfigurationForm
from broker.core.checks import check_ae_titles, check_code_string
from worklist.models import StationAssignmentRule


class StationAssignmentRuleForm(ConfigurationForm):
    class Meta:
        model = StationAssignmentRule
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"priority": "Priority", "enabled": "Enabled", "match_modality": "Modality",
                  "match_procedure_code": "Procedure code", "match_location": "Patient location",
                  "station_ae_titles": "Station AE titles", "station_names": "Station names",
                  "description": "Description"}
        help_texts = {
            "priority": "Among rules that match equally well, the lowest number wins.",
            "enabled": "Off: the rule is not used for new orders.",
            "match_modality": "Modality code of the step, e.g. CT; empty = any.",
            "match_procedure_code": "Requested procedure code value from the order; empty = any.",
            "match_location": "Patient location (PV1-3) point of care from the order, e.g. NOTAUFN; empty = any.",
            "station_ae_titles": "The AE title(s) of the station(s) that get the step, comma separated: CT01, CT02.",
            "station_names": "Their Station Names, comma separated in the same order; empty = none.",
            "description": "Free text for staff.",
        }

    def clean_match_modality(self):
        return check_code_string(self.cleaned_data.get("match_modality"), "modality")

    def clean_station_ae_titles(self):
        titles = check_ae_titles(self.cleaned_data.get("station_ae_titles"))
        if not titles:
            raise ValidationError("name at least one station AE title")
        return ",".join(titles)
