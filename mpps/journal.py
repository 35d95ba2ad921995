"""The journal of MPPS requests: what each modality sent and what it was answered, for staff to read."""
import json
import logging

from django.db import transaction
from pydicom import Dataset

from broker.audit import events as audit_events
from broker.audit.models import AuditEvent
from broker.audit.trail import record as audit
from mpps.models import MppsRequest

log = logging.getLogger(__name__)


def as_json(dataset: Dataset | None) -> dict:
    if dataset is None:
        return {}
    try:
        as_dict = dataset.to_json_dict()
        # Walking a 2,000-series data set in Python costs more than asking the C encoder whether a NUL is in it.
        return _without_nul(as_dict) if "\\u0000" in json.dumps(as_dict) else as_dict
    except Exception as exc:  # a dataset pydicom cannot even re-encode is still worth a journal row
        log.warning("could not keep the dataset as JSON: %s", exc)
        return {"error": f"not representable as DICOM JSON: {exc}"}


def _without_nul(value):
    # A refused request may carry a NUL byte (that is why it was refused); PostgreSQL's JSON cannot hold one, and
    # staff's journal row must be written on both databases alike, so it is shown as the text "\\0".
    if isinstance(value, str):
        return value.replace("\x00", "\\0")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


def record(operation: str, sop_instance_uid: str, dataset_json: dict, *, calling_ae: str = "", peer: str = "",
           status: int = 0, error_comment: str = "", error_detail: str = "", performed_step=None) -> MppsRequest:
    """The journal row and its audit event, in the caller's transaction."""
    row = MppsRequest.objects.create(
        operation=operation, sop_instance_uid=(sop_instance_uid or "")[:64], calling_ae=calling_ae[:16],
        peer=peer[:100], dataset=dataset_json, status=status, error_comment=error_comment[:64],
        error_detail=error_detail, performed_step=performed_step)
    _audit(row, performed_step)
    return row


def _audit(row: MppsRequest, performed_step) -> None:
    kind = audit_events.MPPS_CREATE if row.operation == "N-CREATE" else audit_events.MPPS_SET
    step_values = {}
    if performed_step is not None:
        step_values = {"status": performed_step.status, "study_instance_uid": performed_step.study_instance_uid,
                       "accession_number": performed_step.accession_number}
    audit(kind, outcome=AuditEvent.Outcome.SUCCESS if row.status == 0 else AuditEvent.Outcome.MINOR_FAILURE,
          ae=row.calling_ae, address=row.peer,
          patient_ids=[performed_step.reported_patient_id] if performed_step is not None else [],
          objects=[{"type": "mpps", "uid": row.sop_instance_uid, "journal_id": row.pk, **step_values}],
          detail={"operation": row.operation, "status": row.status, "error_comment": row.error_comment})


def record_refusal(operation: str, sop_instance_uid: str, dataset: Dataset | None, *, calling_ae: str = "",
                   peer: str = "", status: int, error_comment: str, error_detail: str = "") -> None:
    """Keep a refused request in its own transaction; the journal failing must not change the answer."""
    log.warning("MPPS %s %s from %s refused with 0x%04X: %s", operation, sop_instance_uid, calling_ae or peer,
                status, error_detail or error_comment)
    try:
        with transaction.atomic():
            record(operation, sop_instance_uid, as_json(dataset), calling_ae=calling_ae, peer=peer, status=status,
                   error_comment=error_comment, error_detail=error_detail)
    except Exception:
        log.exception("could not journal the refused MPPS %s %s", operation, sop_instance_uid)
