"""The forms that check a routing destination or rule before it is saved (the admin's), with the checks the
`destinations` command makes (broker.core.checks, broker.routing.rules)."""
import json

from django import forms
from django.core.exceptions import ValidationError

from broker.core.admin import TLS_HELP, TLS_LABELS, ConfigurationForm, PeerAddressForm
from broker.core.checks import (
    check_code_string,
    check_optional_ae_title,
    check_positive,
    check_regex,
    split_list,
)
from broker.routing.models import Destination, RoutingRule
from broker.routing.rules import InvalidAttributeChange, validate_attribute_changes


class DestinationForm(PeerAddressForm):
    class Meta:
        model = Destination
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"name": "Name", "ae_title": "AE title", "host": "Host", "port": "Port", "enabled": "Enabled",
                  "max_associations": "Associations at once", "description": "Description", **TLS_LABELS}
        help_texts = {
            "name": "How staff and the rules call it, e.g. Main PACS.",
            "ae_title": "The destination's own (called) AE title: 1 to 16 printable ASCII characters, no backslash.",
            "host": "Host name or IP address the broker connects to.",
            "port": "Its DICOM port, 1 to 65535 (104 and 11112 are usual).",
            "enabled": "Off: no new routing jobs are sent to it.",
            "max_associations": "How many associations the broker opens to it at the same time (1 or more).",
            "description": "Free text for staff.",
            **TLS_HELP,
        }




    def clean_max_associations(self):
        return check_positive(self.cleaned_data.get("max_associations"), "associations at once")


def alternatives_of(check, *args):
    """A check of a match field: "CT, mr" → "CT,MR", each alternative checked by `check(value, *args)`, joined as
    the rules read them (broker.routing.rules.alternatives)."""
    def check_all(text: str) -> str:
        return ",".join(check(value, *args) for value in split_list(text))
    return check_all


class AttributeChangesField(forms.CharField):
    """The attribute changes as KEYWORD=VALUE lines (as `destinations rule add --set`), stored as a JSON object."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        if isinstance(value, dict):
            return "\n".join(f"{key}={'' if item is None else item}" for key, item in value.items())
        return value

    def to_python(self, value):
        changes = {}
        for number, line in enumerate((value or "").splitlines(), 1):
            if not line.strip():
                continue
            keyword, sep, item = line.partition("=")
            if not sep:
                raise ValidationError(f"line {number} ({line.strip()!r}): write KEYWORD=VALUE, e.g. "
                                      f"InstitutionName=City Hospital")
            changes[keyword.strip()] = item.strip() if item.strip() else None
        try:
            validate_attribute_changes(changes)
        except InvalidAttributeChange as exc:
            raise ValidationError(str(exc)) from None
        return changes


class RoutingRuleForm(ConfigurationForm):
    attribute_changes = AttributeChangesField(required=False, label="Attribute changes", help_text=(
        "Attributes changed on the way out, one KEYWORD=VALUE a line with DICOM keywords as in pydicom's "
        "dictionary (InstitutionName=City Hospital); KEYWORD= alone removes the attribute; empty = sent as received."))

    class Meta:
        model = RoutingRule
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"name": "Name", "enabled": "Enabled", "priority": "Priority", "match_calling_ae": "Calling AE title",
                  "match_modality": "Modality", "match_station": "Station name", "match_procedure_code": "Procedure code",
                  "match_body_part": "Body part", "match_study_description": "Study description (regular expression)",
                  "action": "Action", "destinations": "Destinations", "move_source": "Move source (archive)"}
        help_texts = {
            "name": "How staff call the rule, e.g. CT to PACS.",
            "enabled": "Off: the rule is not applied to new studies.",
            "priority": "Rules are applied lowest number first; every matching rule routes.",
            "match_calling_ae": "AE title(s) of the modality that sent the study, comma separated; empty = any.",
            "match_modality": "Modality code(s), e.g. CT or CT,MR (case does not matter); empty = any.",
            "match_station": "Station Name(s) (0008,1010) as the modality sends them, comma separated; empty = any.",
            "match_procedure_code": "Requested procedure code value(s), comma separated; empty = any.",
            "match_body_part": "Body Part Examined code(s), e.g. CHEST; empty = any.",
            "match_study_description": "A regular expression searched in the Study Description, any case, e.g. "
                                       "^CT (THORAX|CHEST); empty = any.",
            "action": "Send the study from the broker, or ask the move source archive to send it (C-MOVE).",
            "destinations": "Where the study goes.",
            "move_source": "For Move only: the archive that holds the study.",
        }

    def clean_match_calling_ae(self):
        return alternatives_of(check_optional_ae_title)(self.cleaned_data.get("match_calling_ae"))

    def clean_match_modality(self):
        return alternatives_of(check_code_string, "modality")(self.cleaned_data.get("match_modality"))

    def clean_match_body_part(self):
        return alternatives_of(check_code_string, "body part")(self.cleaned_data.get("match_body_part"))

    def clean_match_study_description(self):
        return check_regex(self.cleaned_data.get("match_study_description"))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == RoutingRule.Action.MOVE and not cleaned.get("move_source"):
            self.add_error("move_source", "a Move rule needs the archive that holds the study")
        return cleaned
