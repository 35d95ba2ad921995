"""The admin form of an HL7 sender rule, with the checks `hl7senders add` makes (the model's validators)."""
from broker.core.admin import ConfigurationForm
from broker.hl7.models import HL7Sender


class HL7SenderForm(ConfigurationForm):
    class Meta:
        model = HL7Sender
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"name": "Name", "source": "Source address or network",
                  "sending_application": "Sending application (MSH-3)", "sending_facility": "Sending facility (MSH-4)",
                  "enabled": "Enabled", "description": "Description"}
        help_texts = {"enabled": "Off: this rule lets nobody in.", "description": "Free text for staff."}

    def clean_source(self):
        return (self.cleaned_data.get("source") or "").strip()
