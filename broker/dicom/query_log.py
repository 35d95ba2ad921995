"""The worklist query log: one WorklistQuery row per C-FIND, written when the answer is complete."""
import base64
import logging
import time

from django.db import transaction
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from broker.audit import events as audit_events
from broker.audit.models import AuditEvent
from broker.audit.trail import record as audit
from broker.dicom.models import WorklistQuery

log = logging.getLogger(__name__)

MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


def summarize_keys(identifier, prefix: str = "") -> str:
    """'PatientName=DOE*; ScheduledProcedureStepSequence>Modality=CT; +12 return keys' for staff."""
    asked, returned = [], 0
    for elem in identifier:
        if elem.tag.element == 0 or elem.keyword == "SpecificCharacterSet":
            continue
        name = prefix + (elem.keyword or str(elem.tag))
        if elem.VR == "SQ":
            items = list(elem.value or [])
            if items and len(items[0]):
                inner = summarize_keys(items[0], prefix=name + ">")
                if inner:
                    asked.append(inner)
                continue
            returned += 1
            continue
        value = elem.value
        text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else ("" if value is None else str(value))
        if text.strip():
            asked.append(f"{name}={text}")
        else:
            returned += 1
    parts = [a for a in asked if a and not a.startswith("+")]
    summary = "; ".join(parts)
    if returned and not prefix:
        summary = (summary + "; " if summary else "") + f"+{returned} return keys"
    return summary


def query_dataset_base64(identifier) -> str:
    """The C-FIND identifier in Explicit VR Little Endian, base64: the audit message's ParticipantObjectQuery
    (PS3.15 A.5.3.12); "" when it cannot be encoded (the refusal that followed says why)."""
    if identifier is None:
        return ""
    try:
        out = DicomBytesIO()
        out.is_little_endian, out.is_implicit_VR = True, False
        write_dataset(out, identifier)
    except Exception:  # noqa: BLE001 - a hostile identifier: the audit event keeps the keys' summary instead
        return ""
    return base64.b64encode(out.getvalue()).decode("ascii")


def without_nul(value):
    """NUL shown as the two characters \\0: PostgreSQL text and jsonb cannot hold it (a refused query
    with a NUL byte still gets its row, alike on both databases)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\0")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: without_nul(v) for k, v in value.items()}
    return value


class QueryLogEntry:
    """Collects what happened during one C-FIND; `save()` writes the row once."""

    def __init__(self, calling_ae: str, peer: str):
        self.row = WorklistQuery(calling_ae=calling_ae[:16], peer=peer[:100])
        self.started = time.perf_counter()
        self.saved = False
        self.finished = False
        self.identifier = None
        self.patient_ids: set[str] = set()  # of the steps sent, for the audit event
        self.accession_numbers: set[str] = set()

    def returned(self, step) -> None:
        """A step sent to the modality (its patient and order are joined in by the query: no extra query)."""
        order = step.requested_procedure.order
        self.patient_ids.add(order.patient.patient_id)
        self.accession_numbers.add(order.accession_number)

    def set_identifier(self, identifier) -> None:
        """Kept as is: rendered for the row in `save()`, after the answer, not on the modality's time."""
        self.identifier = identifier

    def _render_identifier(self) -> None:
        try:
            self.row.identifier = without_nul(self.identifier.to_json_dict())
            self.row.keys_summary = without_nul(summarize_keys(self.identifier))
        except Exception as exc:  # an identifier pydicom cannot render as JSON still gets its row
            self.row.keys_summary = f"(identifier could not be rendered: {exc})"[:500]

    def set_scope(self, scope, hidden: int) -> None:
        """The calling AE's worklist scope (worklist.mwl.scope.Scope) and how many matching steps it hid."""
        self.row.scope = scope.as_json()
        self.row.hidden_by_scope = hidden

    def finish(self, status: int, matches: int, comment: str = "") -> None:
        self.finished = True
        self.row.status = status
        self.row.match_count = matches
        self.row.error_comment = without_nul(comment)[:200]
        self.row.duration_ms = (time.perf_counter() - self.started) * 1000

    def save(self) -> None:
        if self.saved:
            return
        self.saved = True
        if self.identifier is not None:
            self._render_identifier()
        try:
            with transaction.atomic():
                self.row.save()
                self._audit()
        except Exception:
            log.exception("could not write the worklist query log row for %s", self.row.calling_ae)

    def _audit(self) -> None:
        row = self.row
        success = row.status in (0x0000, 0xFE00)  # success, or cancelled by the modality
        audit(audit_events.MWL_QUERY,
              outcome=AuditEvent.Outcome.SUCCESS if success else AuditEvent.Outcome.MINOR_FAILURE,
              ae=row.calling_ae, address=row.peer, patient_ids=self.patient_ids,
              objects=[{"type": "query", "id": row.pk, "sop_class_uid": MODALITY_WORKLIST_FIND,
                        "keys": row.keys_summary, "dataset": query_dataset_base64(self.identifier)},
                       *({"type": "order", "accession": a} for a in sorted(self.accession_numbers) if a)],
              detail={"status": row.status, "matches": row.match_count, "patients": len(self.patient_ids)})
