"""The audit events of the HL7 intake: which patients and orders a message touched, as the sender named them."""
from broker.audit import events
from broker.audit.models import AuditEvent
from broker.audit.trail import record
from worklist.hl7map.fields import OrderMessage, PatientMerge, PatientUpdate
from worklist.hl7map.orders import ORDER_CONTROL

# EventActionCode of an order message: all new orders create, all cancels/discontinues delete, the rest update.
_ACTION = {"new": "C", "cancel": "D", "discontinue": "D"}


def touched(mapped) -> tuple[str, list[str], list[dict], str]:
    """(kind, patient IDs, order references, action) of a mapped message. Pure."""
    if isinstance(mapped, OrderMessage):
        controls = {ORDER_CONTROL.get(f.order_control, "") for f in mapped.orders}
        action = _ACTION.get(controls.pop(), "U") if len(controls) == 1 else "U"
        orders = [{"type": "order", "order_control": f.order_control, "placer": f.placer_order_number,
                   "accession": f.accession_number} for f in mapped.orders]
        return events.HL7_ORDER, [mapped.patient.patient_id], orders, action
    if isinstance(mapped, PatientUpdate):
        return events.HL7_PATIENT, [mapped.patient.patient_id], [], "U"
    if isinstance(mapped, PatientMerge):
        return events.HL7_PATIENT, [mapped.surviving.patient_id, *(pid for pid, _ in mapped.prior)], [], "U"
    raise TypeError(f"no audit mapping for {type(mapped).__name__}")


def _sender(row) -> str:
    return "|".join(part for part in (row.sending_application, row.sending_facility) if part)


def _message(row) -> dict:
    return {"type": "hl7", "id": row.pk, "control_id": row.control_id, "message_type": row.message_type}


def applied(mapped, row) -> None:
    kind, patient_ids, orders, action = touched(mapped)
    record(kind, ae=_sender(row), address=row.peer, patient_ids=patient_ids,
           objects=[_message(row), *({**o, "id": row.order_id} if i == 0 else o for i, o in enumerate(orders))],
           detail={"action": action, "ack": "AA", "order_control": row.order_control})


def refused(row) -> None:
    # Nothing was applied: the control ID and the refusal, not the content (it is in the HL7 log row).
    record(events.HL7_REFUSED, outcome=AuditEvent.Outcome.MINOR_FAILURE, ae=_sender(row), address=row.peer,
           objects=[_message(row)],
           detail={"ack": row.outcome, "error_code": row.error_code, "error_location": row.error_location,
                   "sender_refused": row.sender_refused})
