"""Signals the MPPS state machine sends inside its transaction; receivers enqueue work with on_commit.

performed_step_created(sender, performed_step, attributes, orders_changed, relinked):
    after an N-CREATE was stored (status IN PROGRESS), or after staff linked a step (relinked=True).
performed_step_updated(sender, performed_step, attributes):
    after an N-SET that left it IN PROGRESS.
performed_step_finalized(sender, performed_step, attributes, orders_changed, relinked):
    after an N-SET made it COMPLETED or DISCONTINUED (or staff linked a final step: relinked=True).

attributes: the N-CREATE attribute list / N-SET modification list as received (pydicom JSON dict), None on a
relink. orders_changed: the ImagingOrder rows whose status this event changed (their new status is on them).
Receivers should accept **kwargs: more keyword arguments may come.
"""
from django.dispatch import Signal

performed_step_created = Signal()
performed_step_updated = Signal()
performed_step_finalized = Signal()
