"""Storage SCP and SOP classes it does not list: a private class (GE's 1.2.840.113619.4.3) is accepted, stored
byte for byte and indexed with BROKER_STORAGE_ACCEPT_UNKNOWN on (the default), refused at negotiation with it off;
a SOP class of another service (C-MOVE, Print, Storage Commitment) is refused either way."""
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE
from pynetdicom.sop_class import (
    BasicGrayscalePrintManagementMeta,
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelMove,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from broker.dicom.services.storage import accepts_as_storage
from broker.routing.models import RejectedInstance, StoredInstance
from tests.routing.support import GE_PRIVATE, body_bytes, dcmsend, make_private_instance

pytestmark = pytest.mark.dcmtk

# A storage class of the standard (PS3.4 B.5) that pynetdicom 3.0's list of storage contexts lacks.
INVENTORY_STORAGE = "1.2.840.10008.5.1.4.1.1.201.1"
ABSTRACT_SYNTAX_NOT_SUPPORTED = 0x03  # A-ASSOCIATE-AC presentation context result (PS3.8 9.3.3.2)


def associate(port: int, *contexts, calling: str = "MODALITY2"):
    ae = AE(ae_title=calling)
    for abstract_syntax, syntax in contexts:
        ae.add_requested_context(abstract_syntax, syntax)
    return ae.associate("127.0.0.1", port, ae_title="BROKER")


def results(assoc) -> dict[str, int]:
    """Abstract syntax → the result the listener gave its presentation context (0 = accepted)."""
    answered = {cx.abstract_syntax: cx.result for cx in assoc.rejected_contexts}
    answered.update({cx.abstract_syntax: 0 for cx in assoc.accepted_contexts})
    return answered


@pytest.mark.parametrize("uid, accepted", [
    (GE_PRIVATE, True),  # private: the standard does not define it
    ("1.3.46.670589.11.0.0.12.4", True),  # Philips private MR spectrum storage
    ("1.2.840.10008.5.1.4.1.1.9.100.1", True),  # a storage class newer than pydicom's dictionary
    ("1.2.840.10008.5.1.4.1.1.2", True),  # CT Image Storage
    (INVENTORY_STORAGE, True),
    ("1.2.840.10008.5.1.4.38.1", True),  # Hanging Protocol Storage (non-patient object)
    (StudyRootQueryRetrieveInformationModelMove, False),
    (PatientRootQueryRetrieveInformationModelMove, False),
    ("1.2.840.10008.5.1.1.9", False),  # Basic Grayscale Print Management Meta SOP Class
    ("1.2.840.10008.5.1.1.1", False),  # Basic Film Session (Print)
    (StorageCommitmentPushModel, False),  # "Storage" in its name, but N-ACTION
    ("1.2.840.10008.1.3.10", False),  # Media Storage Directory Storage: DICOMDIR on media, not sent
    ("1.2.840.10008.5.1.4.31", False),  # Modality Worklist FIND
    ("1.2.840.10008.1.2.1", False),  # a transfer syntax proposed as abstract syntax
    ("1.2.840.10008.1.20.1.1", False),  # a well-known SOP instance
    ("1.2..3", False),  # not a UID
    ("1.2.03", False),
    ("", False),
])
def test_it_takes_as_storage_only_storage_and_unknown_sop_classes(uid, accepted):
    assert accepts_as_storage(str(uid)) is accepted


def test_it_stores_a_private_sop_class_sent_by_dcmsend_byte_for_byte(broker_listener, tmp_path, storage_dir):
    """dcmsend proposes explicit VR little endian first and the broker takes it: the file arrives as it is."""
    path = make_private_instance(tmp_path / "ge.dcm", syntax=ExplicitVRLittleEndian)

    result = dcmsend(broker_listener, [path])

    assert result.returncode == 0, result.stderr
    instance = StoredInstance.objects.get()
    assert (instance.sop_class_uid, instance.transfer_syntax_uid) == (GE_PRIVATE, ExplicitVRLittleEndian)
    kept = storage_dir / instance.path
    assert body_bytes(kept) == body_bytes(path)
    assert dcmread(kept).file_meta.MediaStorageSOPClassUID == GE_PRIVATE
    assert not RejectedInstance.objects.exists()


def test_it_stores_a_private_sop_class_sent_by_pynetdicom_byte_for_byte(broker_listener, tmp_path, storage_dir):
    path = make_private_instance(tmp_path / "ge.dcm", syntax=ExplicitVRLittleEndian)
    assoc = associate(broker_listener, (GE_PRIVATE, ExplicitVRLittleEndian), (CTImageStorage, ExplicitVRLittleEndian))
    assert assoc.is_established
    try:
        status = assoc.send_c_store(dcmread(path))
    finally:
        assoc.release()

    assert status.Status == 0x0000
    instance = StoredInstance.objects.get()
    assert (instance.sop_class_uid, instance.transfer_syntax_uid) == (GE_PRIVATE, ExplicitVRLittleEndian)
    assert body_bytes(storage_dir / instance.path) == body_bytes(path)


def test_it_accepts_a_private_sop_class_only_in_the_storage_transfer_syntaxes(broker_listener):
    assoc = associate(broker_listener, (GE_PRIVATE, "1.2.840.113619.5.2"), (GE_PRIVATE, JPEGBaseline8Bit),
                      (Verification, ImplicitVRLittleEndian))
    try:
        accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
    finally:
        assoc.release()
    # GE's private implicit VR big endian syntax is not one the broker stores and forwards.
    assert (GE_PRIVATE, JPEGBaseline8Bit) in accepted and (GE_PRIVATE, "1.2.840.113619.5.2") not in accepted


def test_it_accepts_a_standard_storage_class_pynetdicom_does_not_list(broker_listener):
    assoc = associate(broker_listener, (INVENTORY_STORAGE, ExplicitVRLittleEndian))
    try:
        assert results(assoc) == {INVENTORY_STORAGE: 0}
    finally:
        assoc.release()


def test_it_refuses_a_private_sop_class_at_negotiation_when_unknown_classes_are_off(broker_listener, settings):
    settings.BROKER_STORAGE_ACCEPT_UNKNOWN = False
    assoc = associate(broker_listener, (GE_PRIVATE, ImplicitVRLittleEndian), (CTImageStorage, ImplicitVRLittleEndian))
    try:
        assert results(assoc) == {GE_PRIVATE: ABSTRACT_SYNTAX_NOT_SUPPORTED, CTImageStorage: 0}
    finally:
        assoc.release()


def test_it_tells_dcmsend_no_context_for_a_private_class_when_unknown_classes_are_off(broker_listener, tmp_path,
                                                                                       settings):
    settings.BROKER_STORAGE_ACCEPT_UNKNOWN = False
    path = make_private_instance(tmp_path / "ge.dcm")

    result = dcmsend(broker_listener, [path])

    # dcmsend 3.6.7 exits 0 even so; its log says why nothing went.
    assert "no acceptable presentation contexts" in (result.stdout + result.stderr).lower(), result.stderr
    assert not StoredInstance.objects.exists()


@pytest.mark.parametrize("accept_unknown", [True, False])
def test_it_refuses_services_it_does_not_offer_whatever_the_setting(broker_listener, settings, accept_unknown):
    settings.BROKER_STORAGE_ACCEPT_UNKNOWN = accept_unknown
    refused = [StudyRootQueryRetrieveInformationModelMove, PatientRootQueryRetrieveInformationModelMove,
               BasicGrayscalePrintManagementMeta]
    # Storage Commitment is a service of its own now (broker/dicom/services/commitment.py): accepted as such,
    # never as a storage class.
    assoc = associate(broker_listener, (Verification, ImplicitVRLittleEndian),
                      (StorageCommitmentPushModel, ImplicitVRLittleEndian),
                      *[(uid, ImplicitVRLittleEndian) for uid in refused])
    try:
        assert results(assoc) == {Verification: 0, StorageCommitmentPushModel: 0,
                                  **{uid: ABSTRACT_SYNTAX_NOT_SUPPORTED for uid in refused}}
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
