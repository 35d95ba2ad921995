"""MPPS forwarding (IHE PPS Manager): one N-CREATE / N-SET row sent to one downstream MPPS SCP."""
from django.conf import settings
from pydicom import Dataset
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from broker.core import identity
from broker.core.dicom_roles import UNCOMPRESSED_SYNTAXES, ScuRole
from broker.core.work_queue import Outcome
from broker.outbound import tls
from broker.outbound.models import MPPS_FORWARDS, MppsForward

MPPS_FORWARD_SCU = ScuRole(
    name="Modality Performed Procedure Step SCU (MPPS forwarding)",
    purpose="Forwards each MPPS N-CREATE and N-SET the broker accepted, unchanged, to every enabled MPPS "
            "destination (IHE PPS Manager), durably queued and retried.",
    sop_classes=(ModalityPerformedProcedureStep,),
    transfer_syntaxes=UNCOMPRESSED_SYNTAXES,
    timeout_setting="BROKER_OUTBOUND_DICOM_TIMEOUT",
    peers="MPPS destinations (admin, `manage.py mppsdestinations`)",
    tls="per MPPS destination, when its TLS settings ask for it (`use_tls`)",
)


def send(forward: MppsForward) -> tuple[int | None, str, int | None]:
    """One association, one DIMSE request; returns (status or None when no answer came, comment, error ID)."""
    destination = forward.destination
    ae = identity.application_entity(settings.BROKER_AE_TITLE)
    MPPS_FORWARD_SCU.request_on(ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.BROKER_OUTBOUND_DICOM_TIMEOUT
    # Also bounds the TLS handshake: a peer that accepts and never answers would hold the worker otherwise.
    ae.connection_timeout = settings.BROKER_OUTBOUND_DICOM_TIMEOUT
    context = tls.client_context(destination, "MPPS destination", "the destination")
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                         tls_args=(context, destination.host) if context else None)
    if not assoc.is_established:
        where = f"{destination.ae_title}@{destination.host}:{destination.port}"
        if reason := tls.failed(context, where):
            return None, reason, None
        return None, f"association with {where} not established", None
    try:
        dataset = Dataset.from_json(forward.dataset)
        uid = forward.performed_step.sop_instance_uid
        if forward.operation == MppsForward.Operation.N_CREATE:
            status, _ = assoc.send_n_create(dataset, ModalityPerformedProcedureStep, uid)
        else:
            status, _ = assoc.send_n_set(dataset, ModalityPerformedProcedureStep, uid)
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in status:
        return None, "no response (timeout or abort)", None
    error_id = status.get("ErrorID")
    return int(status.Status), str(status.get("ErrorComment", "") or ""), int(error_id) if error_id is not None else None


def delivered(operation: str, status: int, error_id) -> str | None:
    """Whether the destination now has what we sent; the note says why a failure status still means yes."""
    if status == 0x0000 or status == 0x0001 or 0xB000 <= status <= 0xBFFF:
        return ""
    if operation == MppsForward.Operation.N_CREATE and status == 0x0111:
        return "destination already had this MPPS (0x0111): an earlier try reached it"
    if operation == MppsForward.Operation.N_SET and status == 0x0110 and error_id == 0xA710:
        return "destination already has the step final (A710): an earlier try reached it"
    return None


def attempt(forward: MppsForward) -> tuple[str, dict]:
    """One try: ("", answer) when the destination has it, else (what went wrong, answer)."""
    try:
        status, comment, error_id = send(forward)
    except tls.PeerTLSConfigurationError as exc:  # retried like any failure: the administrator fixes the file
        status, comment, error_id = None, str(exc), None
    except Exception as exc:  # network errors of every kind: retried, never lost
        status, comment, error_id = None, f"{type(exc).__name__}: {exc}", None
    note = delivered(forward.operation, status, error_id) if status is not None else None
    if note is not None:
        return "", {"response_status": status, "response_comment": (note or comment)[:200]}
    error = comment if status is None else f"destination answered 0x{status:04X} {comment}".strip()
    return error, {"response_status": status, "response_comment": comment[:200]}


def deliver(forward_id: int) -> Outcome:
    return MPPS_FORWARDS.deliver(forward_id, attempt)
