"""The admin form of a remote AE (the AE registry): every value checked as the listener will read it, the services
as checkboxes, the worklist scope as lists of AE titles and modalities, the character set from the list the
worklist answers in (worklist.mwl.charset), with help text on every field."""
from django import forms
from django.core.exceptions import ValidationError
from pydicom.charset import python_encoding

from broker.core.admin import TLS_HELP, TLS_LABELS, PeerAddressForm
from broker.core.checks import check_ae_titles, check_code_string, check_network, split_list
from broker.dicom.models import SERVICES, RemoteAE
from worklist.mwl.charset import is_known, parse_character_set

ACCEPTED_CHARACTER_SETS = sorted(python_encoding)


def check_character_set(value: str) -> str:
    """Specific Character Set (0008,0005) values the broker answers in: Defined Terms spelled exactly, several
    only as ISO 2022 code extensions ("ISO 2022 IR 6\\ISO 2022 IR 87"); empty = as the query came."""
    value = (value or "").strip()
    if value and not is_known(parse_character_set(value)):
        raise ValidationError(f"{value!r} is not a DICOM character set the broker answers in; accepted: "
                              f"{', '.join(ACCEPTED_CHARACTER_SETS)} (several only as ISO 2022 code extensions, "
                              f"separated by a backslash)")
    return value


class RemoteAEForm(PeerAddressForm):
    allowed_services = forms.MultipleChoiceField(
        choices=SERVICES, required=False, widget=forms.CheckboxSelectMultiple, label="Allowed services",
        help_text="The DICOM services this AE may use; none ticked = all of them.")
    worklist_stations = forms.CharField(
        required=False, label="Worklist: only steps of stations", help_text=(
            "Scheduled Station AE Titles whose steps its worklist queries may return, comma separated (CT01, CT02); "
            "empty = any station."))
    worklist_modalities = forms.CharField(
        required=False, label="Worklist: only steps of modalities",
        help_text="Modalities whose steps its worklist queries may return, comma separated (CT, MR); empty = any.")

    class Meta:
        model = RemoteAE
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"ae_title": "AE title", "host": "Host", "port": "Port", "description": "Description",
                  "character_set": "Character set of answers", "host_binding": "Calls only from", **TLS_LABELS}
        help_texts = {
            "ae_title": "The AE title it calls with (its own): 1 to 16 printable ASCII characters, no backslash.",
            "host": "Where it listens, for storage commitment reports and Test connection; empty = not known.",
            "port": "Its DICOM port, 1 to 65535; empty = not known.",
            "description": "Free text for staff, e.g. the room.",
            "character_set": "Specific Character Set of the worklist answers, e.g. ISO_IR 100 (Latin-1) or ISO_IR "
                             "192 (UTF-8); empty = the query's own, else BROKER_MWL_DEFAULT_CHARSET.",
            "host_binding": "An address (10.1.2.3) or network (10.1.2.0/24) this AE title must call from; "
                            "empty = any.",
            **TLS_HELP,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("worklist_stations", "worklist_modalities"):
            value = self.initial.get(name)
            if isinstance(value, list):
                self.initial[name] = ", ".join(value)




    def clean_character_set(self):
        return check_character_set(self.cleaned_data.get("character_set"))

    def clean_host_binding(self):
        return check_network(self.cleaned_data.get("host_binding"))

    def clean_worklist_stations(self):
        return check_ae_titles(self.cleaned_data.get("worklist_stations"))

    def clean_worklist_modalities(self):
        return [check_code_string(value, "modality") for value in split_list(self.cleaned_data.get("worklist_modalities"))]
