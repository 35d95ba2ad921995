"""C-STORE SCP: every storage SOP class, kept byte for byte by broker.routing.storage.

The handler decodes only what the index needs, hands the encoded bytes as received to the
storage module, and maps its exceptions to a failure status through one table.

The AE lists the storage SOP classes pynetdicom knows. With BROKER_STORAGE_ACCEPT_UNKNOWN (the default) an
association also accepts, in the same transfer syntaxes, every other abstract syntax the peer proposes that
`accepts_as_storage` allows: storage classes of a newer standard and private or unknown ones. A SOP class
the standard defines for another service (C-MOVE, Print, Storage Commitment) is never taken for storage.
"""
import logging
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, DataError, close_old_connections
from pydicom import Dataset
from pydicom import uid as pydicom_uid
from pynetdicom import AllStoragePresentationContexts, evt

from broker.core.dicom_net.contexts import declare_added_as_storage, support_proposed_storage
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
from worklist.uids import is_valid_uid

log = logging.getLogger(__name__)

# The common transfer syntaxes: whatever arrives in one of them is stored and forwarded as is. Where a modality
# proposes several, the first of these it proposes is taken: Explicit VR Little Endian before Implicit, so a
# modality that can send its VRs does (a private element sent implicit arrives without one), and routing can hand
# the file to dcmsend unchanged (broker/routing/sending_dcmtk.py).
STORAGE_TRANSFER_SYNTAXES = [
    pydicom_uid.ExplicitVRLittleEndian,
    pydicom_uid.ImplicitVRLittleEndian,
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

# Standard SOP classes whose name says "Storage" but that are not stored with C-STORE.
_NOT_STORED = ("Commitment", "Management", "Media Storage Directory")


def accepts_as_storage(uid: str) -> bool:
    """Whether a proposed abstract syntax the AE does not list may be accepted for C-STORE: a valid UID that is
    a storage SOP class of the standard (pydicom's dictionary) or that the standard does not define at all
    (private, or newer than pydicom). Every other standard UID (a service's SOP class, a transfer syntax, a
    well-known instance) is not a storage class."""
    if not is_valid_uid(uid):
        return False
    known = pydicom_uid.UID(uid)
    if not known.type:  # not in the standard as pydicom knows it
        return True
    return known.type == "SOP Class" and "Storage" in known.name and not any(word in known.name for word in _NOT_STORED)


def accept_unlisted_storage(event) -> None:
    """EVT_REQUESTED (after the registry's checks): with BROKER_STORAGE_ACCEPT_UNKNOWN, the storage classes the
    peer proposes that the AE does not list are supported for this association."""
    if not settings.BROKER_STORAGE_ACCEPT_UNKNOWN:
        return
    added = support_proposed_storage(event.assoc, STORAGE_TRANSFER_SYNTAXES, accepts_as_storage)
    if added:
        log.debug("association from %s: also accepting storage SOP classes %s", registry.calling_ae_title(event.assoc),
                 ", ".join(added))


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
    return [(evt.EVT_REQUESTED, accept_unlisted_storage), (evt.EVT_SOP_COMMON, declare_added_as_storage),
            (evt.EVT_C_STORE, handle_store)]
