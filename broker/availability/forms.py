"""The form that checks an IAN subscriber before it is saved: used by the admin and the `iansubscribers` command."""
from broker.availability.models import IanSubscriber
from broker.outbound.forms import PeerAddressForm, check_ae_title


class IanSubscriberForm(PeerAddressForm):
    class Meta:
        model = IanSubscriber
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown

    def clean_ae_title(self):
        return check_ae_title(self.cleaned_data.get("ae_title"))
