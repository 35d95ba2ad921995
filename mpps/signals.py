"""Signals the MPPS state machine sends inside its transaction; receivers enqueue work with on_commit.

performed_step_created(sender, performed_step): after an N-CREATE was stored (status IN PROGRESS).
performed_step_updated(sender, performed_step, attributes): after an N-SET that left it IN PROGRESS.
performed_step_finalized(sender, performed_step): after an N-SET made it COMPLETED or DISCONTINUED.
"""
from django.dispatch import Signal

performed_step_created = Signal()
performed_step_updated = Signal()
performed_step_finalized = Signal()
