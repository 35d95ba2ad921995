"""Storage SCP: modalities send with DCMTK storescu or pynetdicom; files kept byte for byte and indexed."""
import pytest
from django.db import DatabaseError
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from broker.routing.models import RejectedInstance, StoredInstance, Study
from tests.routing.support import body_bytes, make_image, make_study, pixel_bytes, storescu

pytestmark = pytest.mark.dcmtk


def send_with_pynetdicom(port, path, *, calling="MODALITY2"):
    ds = dcmread(path)
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()


def test_it_stores_a_study_sent_by_storescu_byte_for_byte(broker_listener, tmp_path, storage_dir):
    paths = make_study(tmp_path / "study", count=4)

    result = storescu(broker_listener, paths, extra=("-xr",))  # also propose RLE for the compressed one

    assert result.returncode == 0, result.stderr
    stored = {i.sop_instance_uid: i for i in StoredInstance.objects.all()}
    assert len(stored) == 4
    for path in paths:
        original = dcmread(path, stop_before_pixels=True)
        instance = stored[original.SOPInstanceUID]
        kept = storage_dir / instance.path
        # storescu may send an explicit file as implicit; the file keeps the syntax it travelled in.
        assert dcmread(kept).file_meta.TransferSyntaxUID == instance.transfer_syntax_uid
        if original.file_meta.TransferSyntaxUID == RLELossless:
            assert instance.transfer_syntax_uid == RLELossless
        assert instance.sop_class_uid == original.SOPClassUID
        assert instance.calling_ae == "MODALITY1"
        assert pixel_bytes(kept) == pixel_bytes(path)
        assert instance.size == kept.stat().st_size
    study = Study.objects.get()
    assert study.state == Study.State.RECEIVING
    assert set(study.modalities.split("\\")) == {"CT", "MR", "OT"}
    assert (study.calling_ae, study.accession_number, study.station_names) == ("MODALITY1", "ACC0001", "CTROOM1")


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless])
def test_it_keeps_the_transfer_syntax_it_was_sent_in(broker_listener, tmp_path, storage_dir, syntax):
    path = make_image(tmp_path / "one.dcm", study_uid="1.2.3.4", series_uid="1.2.3.4.1", syntax=syntax)

    response = send_with_pynetdicom(broker_listener, path)

    assert response.Status == 0x0000
    instance = StoredInstance.objects.get()
    assert instance.transfer_syntax_uid == syntax
    assert dcmread(storage_dir / instance.path).file_meta.TransferSyntaxUID == syntax
    assert body_bytes(storage_dir / instance.path) == body_bytes(path)


def test_it_stores_the_same_instance_once(broker_listener, tmp_path, storage_dir):
    path = make_image(tmp_path / "one.dcm", study_uid="1.2.3.5", series_uid="1.2.3.5.1")

    first = send_with_pynetdicom(broker_listener, path)
    second = storescu(broker_listener, [path])

    assert first.Status == 0x0000
    assert second.returncode == 0, second.stderr
    assert StoredInstance.objects.count() == 1
    assert len([p for p in storage_dir.rglob("*.dcm")]) == 1


def test_it_answers_out_of_resources_when_the_data_directory_is_unwritable(broker_listener, tmp_path, settings):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage directory should be")
    settings.BROKER_STORAGE_DIR = blocker / "storage"
    path = make_image(tmp_path / "one.dcm", study_uid="1.2.3.6", series_uid="1.2.3.6.1")

    response = send_with_pynetdicom(broker_listener, path)

    assert response.Status == 0xA700
    assert response.ErrorComment.startswith("Out of resources: cannot write file")
    assert StoredInstance.objects.count() == 0 and Study.objects.count() == 0
    rejected = RejectedInstance.objects.get()
    assert (rejected.status, rejected.calling_ae) == (0xA700, "MODALITY2")


def test_it_reports_the_failure_to_storescu_when_the_data_directory_is_unwritable(broker_listener, tmp_path, settings):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.BROKER_STORAGE_DIR = blocker / "storage"
    path = make_image(tmp_path / "one.dcm", study_uid="1.2.3.7", series_uid="1.2.3.7.1")

    result = storescu(broker_listener, [path], extra=("-v",))

    assert result.returncode != 0
    assert "Received Store Response (Refused: OutOfResources)" in result.stdout + result.stderr
    assert StoredInstance.objects.count() == 0


def test_it_leaves_no_file_when_indexing_fails(broker_listener, tmp_path, storage_dir, monkeypatch):
    # A database that refuses the insert cannot be produced on demand; the failure is injected at the ORM.
    def refuse(*args, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(StoredInstance.objects, "create", refuse)
    path = make_image(tmp_path / "one.dcm", study_uid="1.2.3.8", series_uid="1.2.3.8.1")

    response = send_with_pynetdicom(broker_listener, path)

    assert response.Status == 0xA700
    assert response.ErrorComment == "Out of resources: cannot index: disk I/O error"
    assert list(storage_dir.rglob("*.dcm")) == []
    assert list((storage_dir / ".incoming").iterdir()) == []
    assert Study.objects.count() == 0  # rolled back with the instance


def test_it_accepts_every_storage_sop_class_in_the_common_transfer_syntaxes(broker_listener):
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless
    from pynetdicom import AllStoragePresentationContexts

    classes = [cx.abstract_syntax for cx in AllStoragePresentationContexts]
    syntaxes = [ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless, JPEG2000Lossless, RLELossless]
    accepted = set()
    for start in range(0, len(classes), 128):  # at most 128 contexts per association
        ae = AE(ae_title="MODALITY3")
        for n, sop_class in enumerate(classes[start:start + 128]):
            ae.add_requested_context(sop_class, syntaxes[n % len(syntaxes)])
        assoc = ae.associate("127.0.0.1", broker_listener, ae_title="BROKER")
        assert assoc.is_established
        accepted |= {cx.abstract_syntax for cx in assoc.accepted_contexts}
        assoc.release()
    assert accepted == set(classes)




def test_it_answers_out_of_resources_when_the_disk_is_full(broker_listener, tmp_path, nearly_full_storage):
    path = make_image(tmp_path / "big.dcm", study_uid="1.2.3.13", series_uid="1.2.3.13.1", rows=128, columns=128)  # 32 KB

    response = send_with_pynetdicom(broker_listener, path)

    assert response.Status == 0xA700
    assert "No space left on device" in response.ErrorComment
    assert StoredInstance.objects.count() == 0 and Study.objects.count() == 0
    assert list((nearly_full_storage / ".incoming").iterdir()) == []  # the partial file is gone


@pytest.mark.parametrize("exc, status, comment", [
    (OSError(28, "No space left on device", "/data/x.part"), 0xA700, "Out of resources: cannot write file: No space left on device"),
    (NotADirectoryError(20, "Not a directory"), 0xA700, "Out of resources: cannot write file: Not a directory"),
    (DatabaseError("database is locked"), 0xA700, "Out of resources: cannot index: database is locked"),
    (__import__("broker.routing.storage", fromlist=["x"]).InvalidInstance("StudyInstanceUID is missing or empty"), 0xC000,
     "Cannot understand: StudyInstanceUID is missing or empty"),
    (__import__("broker.routing.storage", fromlist=["x"]).DatasetDoesNotMatch("data set has 1.2"), 0xA900,
     "Data set does not match SOP class: data set has 1.2"),
    (KeyError("x"), 0xC000, "Cannot understand: 'x'"),
])
def test_it_maps_each_failure_to_a_storage_status(exc, status, comment):
    from broker.dicom.services.storage import status_for

    assert status_for(exc) == (status, comment)


@pytest.mark.parametrize("changes, message", [
    ({"StudyInstanceUID": None}, "StudyInstanceUID is missing or empty"),
    ({"SeriesInstanceUID": None, "StudyInstanceUID": None}, "StudyInstanceUID is missing or empty"),
    ({"StudyInstanceUID": "not-a-uid"}, "StudyInstanceUID has characters other than digits and dots: 'not-a-uid'"),
    ({"SeriesInstanceUID": "1." * 40}, "SeriesInstanceUID is 80 characters long"),
    ({"SOPInstanceUID": ""}, "SOPInstanceUID is missing or empty"),
])
@pytest.mark.filterwarnings("ignore:.*VR UI:UserWarning")  # pydicom warns as the test builds the bad data set
def test_it_refuses_to_index_an_instance_without_proper_uids(changes, message):
    from pydicom import Dataset

    from broker.routing.storage import InstanceFacts, InvalidInstance

    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SOPClassUID = "1.2.3", "1.2.3.1", "1.2.3.1.1", CTImageStorage
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    with pytest.raises(InvalidInstance, match=message):
        InstanceFacts.from_dataset(ds)


def test_it_collects_what_rules_match_on_from_the_data_set():
    from pydicom import Dataset

    from broker.routing.storage import InstanceFacts

    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SOPClassUID = "1.2.3", "1.2.3.1", "1.2.3.1.1", CTImageStorage
    ds.Modality, ds.StationName, ds.BodyPartExamined, ds.StudyDescription = "CT", "CTROOM1", "HEAD", "CT HEAD"
    code = Dataset()
    code.CodeValue = "CTHEAD"
    ds.ProcedureCodeSequence = [code]
    facts = InstanceFacts.from_dataset(ds)
    assert (facts.modality, facts.station_name, facts.body_part, facts.procedure_codes) == ("CT", "CTROOM1", "HEAD", ("CTHEAD",))
    assert facts.relative_path() == "1.2.3/1.2.3.1/1.2.3.1.1.dcm"
