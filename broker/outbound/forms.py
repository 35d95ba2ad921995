"""The forms that check an RIS endpoint or an MPPS destination before it is saved: used by the admin and by the
`risendpoints` / `mppsdestinations` commands, so both refuse the same values with the same words."""
from django import forms

from broker.core.admin import TLS_HELP, TLS_LABELS, PeerAddressForm
from broker.outbound.models import MppsDestination, RisEndpoint


class RisEndpointForm(PeerAddressForm):
    class Meta:
        model = RisEndpoint
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"name": "Name", "host": "Host", "port": "Port", "enabled": "Enabled",
                  "message_format": "Message format", "receiving_application": "Receiving application (MSH-5)",
                  "receiving_facility": "Receiving facility (MSH-6)", "timeout_seconds": "Timeout (seconds)",
                  "match_sending_application": "Only orders from sending application", **TLS_LABELS}
        help_texts = {
            "name": "How staff call this RIS, e.g. RIS.",
            "host": "Host name or IP address of the RIS's inbound HL7 (MLLP) interface.",
            "port": "Its MLLP port, 1 to 65535 (2575 is usual).",
            "enabled": "Off: no status messages are sent to it.",
            "message_format": "ORM^O01 (v2.3.1) or OMI^O23 (v2.5.1); Auto answers in the kind the order came in.",
            "receiving_application": "MSH-5 of the messages sent to it; empty = left empty.",
            "receiving_facility": "MSH-6 of the messages sent to it; empty = left empty.",
            "timeout_seconds": "Seconds to wait for the connection and for each ACK (above 0).",
            "match_sending_application": "Tell this RIS only about orders whose MSH-3 was this; empty = every order.",
            **TLS_HELP,
        }

    def clean_timeout_seconds(self):
        timeout = self.cleaned_data.get("timeout_seconds")
        if timeout is not None and timeout <= 0:
            raise forms.ValidationError(f"a timeout of {timeout:g} s cannot be waited for: give seconds above 0")
        return timeout


class MppsDestinationForm(PeerAddressForm):
    class Meta:
        model = MppsDestination
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown
        labels = {"name": "Name", "ae_title": "AE title", "host": "Host", "port": "Port", "enabled": "Enabled",
                  "description": "Description", **TLS_LABELS}
        help_texts = {
            "name": "How staff call it, e.g. DOSE.",
            "ae_title": "Its own (called) AE title: 1 to 16 printable ASCII characters, no backslash.",
            "host": "Host name or IP address of the MPPS SCP (dose monitor, PACS, reporting).",
            "port": "Its DICOM port, 1 to 65535.",
            "enabled": "Off: no MPPS is forwarded to it.",
            "description": "Free text for staff.",
            **TLS_HELP,
        }

