"""Storage Commitment Push Model SCP (PS3.4 Annex J): the N-ACTION accepted, kept, and answered at once.

The handler checks the request (broker.commitment.request), keeps it (broker.commitment.services.accept) and
answers 0x0000 = "request received", not "committed". The outcome goes to the modality later, as an
N-EVENT-REPORT (broker.dicom.commitment_reports). A refused request gets its failure status with an Error
Comment and a row staff can see (RefusedCommitmentRequest).
"""
import logging

from django.db import DatabaseError
from pydicom import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from broker.commitment import services
from broker.commitment.request import (
    PROCESSING_FAILURE,
    RESOURCE_LIMITATION,
    CommitmentRequestError,
    read_request,
)
from broker.dicom import commitment_reports, db_work, registry
from broker.dicom.error_comment import error_comment

log = logging.getLogger(__name__)

SUPPORTED_CONTEXTS = [StorageCommitmentPushModel]


class UndecodableActionInformation(Exception):
    pass


# Exception → (N-ACTION status, Error Comment prefix); a CommitmentRequestError brings its own. Never success.
STATUS_FOR_ERROR = (
    (UndecodableActionInformation, PROCESSING_FAILURE, "Cannot decode Action Information"),
    (DatabaseError, RESOURCE_LIMITATION, "Database unavailable; please retry"),
    (Exception, PROCESSING_FAILURE, "Processing failure"),
)


def status_for(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, CommitmentRequestError):
        return exc.status, exc.comment
    status, prefix = next((status, prefix) for kind, status, prefix in STATUS_FOR_ERROR if isinstance(exc, kind))
    return status, prefix if not isinstance(exc, UndecodableActionInformation) else f"{prefix}: {exc}"


def _decoded(event) -> Dataset | None:
    """The Action Information with every element read once: bytes that are not DICOM fail here."""
    if event.request.ActionInformation is None:
        return None
    try:
        info = event.action_information
        for elem in info.iterall():
            elem.value  # noqa: B018  reading the value converts the raw bytes
    except Exception as exc:
        raise UndecodableActionInformation(type(exc).__name__) from exc
    return info


def handle_n_action(event):
    if (refused := registry.refusal(event.assoc, "commitment")) is not None:
        return refused, None
    calling_ae, peer = registry.calling_ae_title(event.assoc), registry.peer_of(event.assoc)
    info = None
    try:
        info = _decoded(event)
        request = read_request(event.action_type, str(event.request.RequestedSOPInstanceUID or ""), info)
        row = db_work.run(services.accept, request, calling_ae=calling_ae, peer=peer)
    except Exception as exc:
        status, comment = status_for(exc)
        if not isinstance(exc, (CommitmentRequestError, UndecodableActionInformation)):
            log.exception("storage commitment request from %s failed", calling_ae)
        else:
            log.warning("storage commitment request from %s (%s) refused 0x%04X: %s", calling_ae, peer, status, comment)
        transaction_uid = str(info.get("TransactionUID", "") or "") if info is not None and not isinstance(
            exc, UndecodableActionInformation) else ""
        db_work.submit(services.record_refusal, calling_ae=calling_ae, peer=peer, transaction_uid=transaction_uid,
                       status=status, comment=comment)
        answer = Dataset()
        answer.Status = status
        answer.ErrorComment = error_comment(comment)
        return answer, None
    commitment_reports.start_reporter(event.assoc, row.pk)
    return 0x0000, None


def handlers():
    return [(evt.EVT_N_ACTION, handle_n_action)]
