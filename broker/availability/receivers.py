"""The routing signals turned into IAN rows, inside the routing transaction (connected in AvailabilityConfig.ready)."""
from django.dispatch import receiver

from broker.availability import services
from broker.availability.models import Event
from broker.routing.signals import study_completed, study_routed


@receiver(study_completed, dispatch_uid="availability.completed")
def on_completed(sender, study, **kwargs):
    services.notify(study, Event.COMPLETE)


@receiver(study_routed, dispatch_uid="availability.routed")
def on_routed(sender, study, **kwargs):
    services.notify(study, Event.ROUTED)
