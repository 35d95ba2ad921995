"""The MPPS app's public functions: what the DICOM listener and the staff's admin call."""
from mpps.creating import create_performed_step
from mpps.linking import link_unscheduled
from mpps.setting import set_performed_step

__all__ = ["create_performed_step", "set_performed_step", "link_unscheduled"]
