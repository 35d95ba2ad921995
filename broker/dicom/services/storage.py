"""C-STORE SCP: every storage SOP class, kept byte for byte by broker.routing.storage.

The handler decodes only what the index needs, hands the encoded bytes as received to the
storage module, and maps its exceptions to a failure status through one table.
"""
import logging
from contextlib import contextmanager

from django.db import DatabaseError, DataError, close_old_connections
from pydicom import Dataset
from pydicom import uid as pydicom_uid
from pynetdicom import AllStoragePresentationContexts, evt

from broker.dicom import registry
from broker.dicom.error_comment import error_comment
from broker.routing.storage import (
    DatasetDoesNotMatch,
    InstanceFacts,
    InvalidInstance,
    check_matches_request,
    check_request,
    record_refusal,
    store_instance,
)

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
    # Both are made printable ASCII: the wire needs it, and staff read the same words the modality got.
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    for kind, status, prefix in STATUS_FOR_EXCEPTION:
        if isinstance(exc, kind):
            return status, error_comment(f"{prefix}: {detail}", limit)
    raise exc  # BaseException: not ours to answer


def handle_store(event):
    if (refused := registry.refusal(event.assoc, "store")) is not None:
        return refused
    request = event.request
    calling_ae = event.assoc.requestor.ae_title.strip()
    close_old_connections()
    sop_class_uid = str(request.AffectedSOPClassUID or "")
    sop_instance_uid = str(request.AffectedSOPInstanceUID or "")
    transfer_syntax_uid = str(event.context.transfer_syntax)
    try:
        with _received_bytes(request) as encoded:
            check_request(sop_class_uid, sop_instance_uid, encoded, transfer_syntax_uid)
        facts = InstanceFacts.from_dataset(event.dataset, sop_class_uid=sop_class_uid,
                                           sop_instance_uid=sop_instance_uid)
        check_matches_request(facts, sop_class_uid, sop_instance_uid)
        store_instance(event.encoded_dataset(include_meta=True), facts, transfer_syntax_uid=transfer_syntax_uid,
                       calling_ae=calling_ae)
        return 0x0000
    except Exception as exc:
        status, comment = status_for(exc)
        log.warning("C-STORE %s from %s refused 0x%04X: %s", sop_instance_uid, calling_ae, status, exc)
        record_refusal(calling_ae, sop_class_uid, sop_instance_uid, status, status_for(exc, limit=200)[1])
        answer = Dataset()
        answer.Status = status
        answer.ErrorComment = comment
        return answer
    finally:
        close_old_connections()


@contextmanager
def _received_bytes(request):
    """The data set's bytes as received, without a copy of a large one; None for a spooled file (not configured)."""
    data = request.DataSet
    if not hasattr(data, "getbuffer"):
        yield None
        return
    with data.getbuffer() as view:  # released before pydicom reads the data set
        yield view


def handlers():
    return [(evt.EVT_C_STORE, handle_store)]
