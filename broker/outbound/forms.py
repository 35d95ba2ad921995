"""The forms that check an RIS endpoint or an MPPS destination before it is saved: used by the admin and by the
`risendpoints` / `mppsdestinations` commands, so both refuse the same values with the same words."""
from django import forms

from broker.core.admin import PeerTLSForm
from broker.outbound.models import MppsDestination, RisEndpoint

MAX_PORT = 65535
AE_TITLE_LENGTH = 16  # AE VR, PS3.5 6.2


def check_port(port: int | None) -> int | None:
    if port is not None and not 0 < port <= MAX_PORT:
        raise forms.ValidationError(f"port {port} is not between 1 and {MAX_PORT}")
    return port


def check_ae_title(title: str) -> str:
    """An AE title as DICOM allows it (PS3.5 6.2 AE): 1 to 16 characters, not all spaces, no backslash or control
    characters; leading and trailing spaces are not significant and are removed."""
    title = (title or "").strip()
    if not 0 < len(title) <= AE_TITLE_LENGTH:
        raise forms.ValidationError(f"an AE title has 1 to {AE_TITLE_LENGTH} characters (not counting spaces around it)")
    if "\\" in title or any(not " " <= ch <= "~" for ch in title):
        raise forms.ValidationError("an AE title has printable ASCII characters only, without a backslash")
    return title


class PeerAddressForm(PeerTLSForm):
    """The checks every outbound peer's address gets: a port that exists, a host without stray spaces."""

    def clean_port(self):
        return check_port(self.cleaned_data.get("port"))

    def clean_host(self):
        return (self.cleaned_data.get("host") or "").strip()


class RisEndpointForm(PeerAddressForm):
    class Meta:
        model = RisEndpoint
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown

    def clean_timeout_seconds(self):
        timeout = self.cleaned_data.get("timeout_seconds")
        if timeout is not None and timeout <= 0:
            raise forms.ValidationError(f"a timeout of {timeout:g} s cannot be waited for: give seconds above 0")
        return timeout


class MppsDestinationForm(PeerAddressForm):
    class Meta:
        model = MppsDestination
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown

    def clean_ae_title(self):
        return check_ae_title(self.cleaned_data.get("ae_title"))
