"""The MPPS app's public functions: what the DICOM listener and the staff's admin call."""
from mpps.linking import link_unscheduled
from mpps.n_create import create_performed_step
from mpps.n_set import set_performed_step

__all__ = ["create_performed_step", "set_performed_step", "link_unscheduled"]
