"""The mpps signals turned into outbound rows, inside the MPPS transaction (connected in OutboundConfig.ready)."""
from django.dispatch import receiver

from broker.outbound import services
from broker.outbound.models import MppsForward
from mpps.signals import performed_step_created, performed_step_finalized, performed_step_updated


@receiver(performed_step_created, dispatch_uid="outbound.created")
def on_created(sender, performed_step, attributes=None, orders_changed=(), relinked=False, **kwargs):
    if not relinked:  # staff linking changes nothing a downstream already holds (SSA is not settable)
        services.queue_forwards(performed_step, MppsForward.Operation.N_CREATE, attributes or performed_step.dataset)
    for order in orders_changed:
        services.queue_notifications(order, performed_step)


@receiver(performed_step_updated, dispatch_uid="outbound.updated")
def on_updated(sender, performed_step, attributes=None, **kwargs):
    services.queue_forwards(performed_step, MppsForward.Operation.N_SET, attributes or {})


@receiver(performed_step_finalized, dispatch_uid="outbound.finalized")
def on_finalized(sender, performed_step, attributes=None, orders_changed=(), relinked=False, **kwargs):
    if not relinked:
        services.queue_forwards(performed_step, MppsForward.Operation.N_SET, attributes or {})
    for order in orders_changed:
        services.queue_notifications(order, performed_step)
