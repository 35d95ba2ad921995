"""The form that checks an IAN subscriber before it is saved: used by the admin and the `iansubscribers` command."""
from broker.availability.models import IanSubscriber
from broker.core.admin import PeerAddressForm


class IanSubscriberForm(PeerAddressForm):
    class Meta:
        model = IanSubscriber
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets choose what is shown

