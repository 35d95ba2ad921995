"""MPPS SCP (PS3.4 Annex F): N-CREATE and N-SET decoded, handed to mpps.services, answered from one table.

Success is answered only after mpps.services has committed; everything else it raises becomes a failure status
with an Error Comment naming the attribute at fault, and a journal row (mpps.models.MppsRequest).
"""
import logging

from django.db import DatabaseError, DataError, close_old_connections, connection
from pydicom import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from broker.dicom import registry
from broker.dicom.error_comment import error_comment
from mpps import errors, journal, services

log = logging.getLogger(__name__)

SUPPORTED_CONTEXTS = [ModalityPerformedProcedureStep]

# Exception → DIMSE status (PS3.7 Annex C; PS3.4 Table F.7.2-2). The first matching class wins.
STATUS_FOR_ERROR = (
    (errors.UndecodableDataset, 0x0110),
    (errors.MissingAttribute, 0x0120),
    (errors.MissingAttributeValue, 0x0121),
    (errors.InvalidAttributeValue, 0x0106),
    (errors.AttributeNotSettable, 0x0105),
    (errors.DuplicateInstance, 0x0111),
    (errors.NoSuchInstance, 0x0112),
    (errors.NoLongerUpdatable, 0x0110),
    (DataError, 0x0106),  # a value the database cannot take: the request's fault, retrying will not help
    (DatabaseError, 0x0110),
    (Exception, 0x0110),
)


def status_for(exc: Exception) -> Dataset:
    status = Dataset()
    status.Status = next(code for kind, code in STATUS_FOR_ERROR if isinstance(exc, kind))
    if isinstance(exc, errors.MppsError):
        status.ErrorComment = error_comment(exc.comment)
        if isinstance(exc, errors.NoLongerUpdatable):
            status.ErrorID = exc.ERROR_ID
    elif isinstance(exc, DataError):
        status.ErrorComment = "Invalid attribute value: the database cannot store it"
    elif isinstance(exc, DatabaseError):
        status.ErrorComment = "Database unavailable; please retry"
    else:
        status.ErrorComment = error_comment(f"Processing failure: {type(exc).__name__}")
    return status


def _caller(event) -> tuple[str, str]:
    requestor = event.assoc.requestor
    return str(requestor.ae_title).strip(), f"{requestor.address}:{requestor.port}"


def _answer(event, operation: str, uid: str, read_dataset, apply):
    if (refused := registry.refusal(event.assoc, "mpps")) is not None:
        return refused, None
    calling_ae, peer = _caller(event)
    close_old_connections()
    dataset = None
    try:
        dataset = read_dataset()
        apply(uid, dataset, calling_ae=calling_ae, peer=peer)
        return 0x0000, None
    except Exception as exc:
        status = status_for(exc)
        if not isinstance(exc, (errors.MppsError, DataError)):  # a DataError is the peer's value: no traceback
            log.exception("MPPS %s %s from %s failed", operation, uid, calling_ae)
        detail = getattr(exc, "detail", "") or repr(exc)
        if isinstance(exc, errors.AttributeNotSettable) and operation == "N-SET":
            status.AttributeIdentifierList = exc.tags
        journal.record_refusal(operation, uid, dataset, calling_ae=calling_ae, peer=peer, status=status.Status,
                               error_comment=status.ErrorComment, error_detail=detail)
        return status, None
    finally:
        close_old_connections()


def _decoded(read):
    """The data set with every element read once: bytes that are not DICOM fail here, as the modality's fault."""
    try:
        dataset = read()
        for elem in dataset.iterall():
            elem.value  # noqa: B018  reading the value converts the raw bytes
    except Exception as exc:
        raise errors.UndecodableDataset(f"{type(exc).__name__}: {exc}"[:120]) from exc
    return dataset


def handle_n_create(event):
    uid = event.request.AffectedSOPInstanceUID
    return _answer(event, "N-CREATE", str(uid or ""), lambda: _decoded(lambda: event.attribute_list), services.create_performed_step)


def handle_n_set(event):
    uid = event.request.RequestedSOPInstanceUID
    return _answer(event, "N-SET", str(uid or ""), lambda: _decoded(lambda: event.modification_list), services.set_performed_step)


def close_connection(event):
    # The association's thread ends with it; its database connection would otherwise linger until collected.
    connection.close()


def handlers():
    return [(evt.EVT_N_CREATE, handle_n_create), (evt.EVT_N_SET, handle_n_set),
            (evt.EVT_RELEASED, close_connection), (evt.EVT_ABORTED, close_connection)]
