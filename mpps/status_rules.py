"""How scheduled steps and orders follow what the modality performed; pure functions over status strings.

Scheduled step statuses are worklist.models.ScheduledProcedureStep.Status values, performed step statuses are
DICOM's ("IN PROGRESS", "COMPLETED", "DISCONTINUED"), order statuses ImagingOrder.Status values.
"""
from worklist.models import ScheduledProcedureStep

# CID 9300 (110514, DCM): the technologist picked the wrong worklist entry. IHE SWF treats the performed step as
# never having happened for that entry, so the scheduled step goes back on the worklist.
WRONG_WORKLIST_ENTRY = "110514"

CANCELED = ScheduledProcedureStep.Status.CANCELED


def reopens_step(reason_code: str) -> bool:
    return reason_code.split("^", 1)[0] == WRONG_WORKLIST_ENTRY


def step_status(current: str, performed: list[tuple[str, str]]) -> str:
    """The scheduled step's status given every performed step linked to it as (status, reason code) pairs.

    Any performed step still IN PROGRESS keeps it STARTED; once all are final, one COMPLETED makes it COMPLETED,
    otherwise DISCONTINUED; performed steps discontinued as "wrong worklist entry" do not count at all.
    A CANCELED step stays canceled (the RIS decided); a COMPLETED one stays completed (IHE append case).
    """
    if current == CANCELED:
        return current
    counted = [status for status, reason in performed if not (status == "DISCONTINUED" and reopens_step(reason))]
    if not counted:
        return "SCHEDULED" if current in ("STARTED", "DISCONTINUED") else current
    if "IN PROGRESS" in counted:
        return "COMPLETED" if current == "COMPLETED" else "STARTED"
    return "COMPLETED" if "COMPLETED" in counted or current == "COMPLETED" else "DISCONTINUED"


def order_status(current: str, step_statuses: list[str]) -> str:
    """The imaging order's status from all its scheduled steps' statuses."""
    if not step_statuses:
        return current
    if all(s in ScheduledProcedureStep.FINAL_STATUSES for s in step_statuses):
        if "COMPLETED" in step_statuses:
            return "COMPLETED"
        if "DISCONTINUED" in step_statuses:
            return "DISCONTINUED"
        return CANCELED
    if any(s in ("STARTED", "COMPLETED", "DISCONTINUED") for s in step_statuses):
        return "IN_PROGRESS"
    # Nothing performed (again): back to what the RIS scheduled, keeping a hold the RIS placed.
    return current if current in ("SCHEDULED", "HELD") else "SCHEDULED"


# What the RIS is told (ORC-5) when an order reaches a status through MPPS; None = nothing new to tell.
ORDER_STATUS_TO_RIS_EVENT = {
    "IN_PROGRESS": "IP",
    "COMPLETED": "CM",
    "DISCONTINUED": "DC",
    "SCHEDULED": "SC",
}
