"""C-STORE SCP: every storage SOP class, kept byte for byte by broker.routing.storage.

The handler decodes only what the index needs, hands the encoded bytes as received to the
storage module, and maps its exceptions to a failure status through one table.
"""
import logging

from django.db import DatabaseError, DataError, close_old_connections
from pydicom import Dataset
from pydicom import uid as pydicom_uid
from pynetdicom import AllStoragePresentationContexts, evt

from broker.dicom import registry
from broker.routing.encoding import encoding_problem
from broker.routing.storage import InstanceFacts, InvalidInstance, store_instance
from worklist.uids import uid_problem

log = logging.getLogger(__name__)

# The common transfer syntaxes: whatever arrives in one of them is stored and forwarded as is.
STORAGE_TRANSFER_SYNTAXES = [
    pydicom_uid.ImplicitVRLittleEndian,
    pydicom_uid.ExplicitVRLittleEndian,
    pydicom_uid.DeflatedExplicitVRLittleEndian,
    pydicom_uid.ExplicitVRBigEndian,
    pydicom_uid.JPEGBaseline8Bit,
    pydicom_uid.JPEGExtended12Bit,
    pydicom_uid.JPEGLossless,
    pydicom_uid.JPEGLosslessSV1,
    pydicom_uid.JPEGLSLossless,
    pydicom_uid.JPEGLSNearLossless,
    pydicom_uid.JPEG2000Lossless,
    pydicom_uid.JPEG2000,
    pydicom_uid.HTJ2KLossless,
    pydicom_uid.HTJ2KLosslessRPCL,
    pydicom_uid.HTJ2K,
    pydicom_uid.RLELossless,
]

# All storage SOP classes pynetdicom knows (170); the AE accepts any number, the 128 limit is per proposal.
SUPPORTED_CONTEXTS = [(cx.abstract_syntax, STORAGE_TRANSFER_SYNTAXES) for cx in AllStoragePresentationContexts]


class DatasetDoesNotMatch(ValueError):
    """The data set's SOP Class/Instance UID differ from the C-STORE request's."""


# Exception → (status, comment prefix); the first matching row wins. Never success.
STATUS_FOR_EXCEPTION = (
    (DatasetDoesNotMatch, 0xA900, "Data set does not match SOP class"),
    (InvalidInstance, 0xC000, "Cannot understand"),
    (OSError, 0xA700, "Out of resources: cannot write file"),
    # A value the database refuses (NUL, out of range) is the data set's fault: retrying will not help.
    (DataError, 0xC000, "Cannot understand"),
    (DatabaseError, 0xA700, "Out of resources: cannot index"),
    (Exception, 0xC000, "Cannot understand"),
)


def status_for(exc: Exception, limit: int = 64) -> tuple[int, str]:
    # Error Comment is LO (64 characters): an OSError's reason without errno and path fits. Staff's row takes more.
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    for kind, status, prefix in STATUS_FOR_EXCEPTION:
        if isinstance(exc, kind):
            return status, f"{prefix}: {detail}"[:limit].rstrip()
    raise exc  # BaseException: not ours to answer


def handle_store(event):
    if (refused := registry.refusal(event.assoc, "store")) is not None:
        return refused
    request = event.request
    calling_ae = event.assoc.requestor.ae_title.strip()
    close_old_connections()
    try:
        for keyword in ("AffectedSOPClassUID", "AffectedSOPInstanceUID"):
            problem = uid_problem(str(getattr(request, keyword, "") or ""))
            if problem:
                raise InvalidInstance(f"{keyword} {problem}")
        problem = _encoding_problem(request, str(event.context.transfer_syntax))
        if problem:
            raise InvalidInstance(problem)
        dataset = event.dataset
        facts = InstanceFacts.from_dataset(dataset, sop_class_uid=request.AffectedSOPClassUID,
                                           sop_instance_uid=request.AffectedSOPInstanceUID)
        if (facts.sop_class_uid, facts.sop_instance_uid) != (request.AffectedSOPClassUID, request.AffectedSOPInstanceUID):
            raise DatasetDoesNotMatch(f"data set has {facts.sop_instance_uid}")
        store_instance(event.encoded_dataset(include_meta=True), facts,
                       transfer_syntax_uid=str(event.context.transfer_syntax), calling_ae=calling_ae)
        return 0x0000
    except Exception as exc:
        status, comment = status_for(exc)
        log.warning("C-STORE %s from %s refused 0x%04X: %s", request.AffectedSOPInstanceUID, calling_ae, status, exc)
        _record_rejection(calling_ae, request, status, status_for(exc, limit=200)[1])
        answer = Dataset()
        answer.Status = status
        answer.ErrorComment = comment
        return answer
    finally:
        close_old_connections()


def _encoding_problem(request, transfer_syntax: str) -> str | None:
    data = request.DataSet  # a BytesIO as received; a spooled file's path is not looked at (not configured here)
    if not hasattr(data, "getbuffer"):
        return None
    with data.getbuffer() as view:  # no copy of a large data set; the view is released before pydicom reads it
        return encoding_problem(view, transfer_syntax)


def _record_rejection(calling_ae, request, status, comment):
    from broker.routing.models import RejectedInstance

    try:
        RejectedInstance.objects.create(calling_ae=calling_ae[:16], sop_class_uid=str(request.AffectedSOPClassUID or "")[:64],
                                        sop_instance_uid=str(request.AffectedSOPInstanceUID or "")[:64],
                                        status=status, error_comment=comment)
    except DatabaseError:
        log.exception("could not record the refused C-STORE")  # the database may be why it was refused


def handlers():
    return [(evt.EVT_C_STORE, handle_store)]
