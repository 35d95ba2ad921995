"""Storage SCP against hostile senders: UIDs that would steer the file path, values the index cannot keep,
a data set encoded in another transfer syntax than the negotiated one. Real associations, pynetdicom and storescu.

Invalid UIDs are answered 0xC000 "Cannot understand" (PS3.4 B.2.3), not 0xA900 "Data Set does not match SOP
Class": the data set may well hold every attribute its IOD asks for; what fails is that a value cannot be
used as the identifier the SCP needs (a key and a file name), a matter of understanding the value, not of the
SOP class.
"""
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from broker.routing.models import RejectedInstance, StoredInstance, Study
from tests.routing.support import make_image, storescu

pytestmark = pytest.mark.dcmtk

HOSTILE_UIDS = [".", "..", "1..2.3", "1.02.003", "1.2.3."]


def send(port, ds, *, syntax=None, calling="MODALITY2"):
    ae = AE(ae_title=calling)
    ae.add_requested_context(ds.SOPClassUID, syntax or ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()


def files_under(directory):
    return sorted(p for p in directory.rglob("*") if p.is_file())


def assert_refused_and_nothing_kept(response, keyword, tmp_path, before):
    assert response.Status == 0xC000
    assert response.ErrorComment.startswith(f"Cannot understand: {keyword} ")
    assert files_under(tmp_path) == before  # nothing written outside the storage folder, nor inside it
    assert StoredInstance.objects.count() == 0 and Study.objects.count() == 0
    (row,) = RejectedInstance.objects.all()
    assert row.status == 0xC000 and row.error_comment.startswith(response.ErrorComment)  # staff read it whole


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID"])
@pytest.mark.parametrize("value", HOSTILE_UIDS)
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns as the test builds the bad data set
def test_it_refuses_a_study_or_series_uid_that_is_not_a_uid(broker_listener, tmp_path, storage_dir, keyword, value):
    path = make_image(tmp_path / "hostile.dcm", study_uid="1.2.3.20", series_uid="1.2.3.20.1")
    ds = dcmread(path)
    setattr(ds, keyword, value)
    before = files_under(tmp_path)

    response = send(broker_listener, ds)

    assert_refused_and_nothing_kept(response, keyword, tmp_path, before)


@pytest.mark.parametrize("value", HOSTILE_UIDS[2:] + [""])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_it_refuses_a_data_set_sop_instance_uid_that_is_not_a_uid(broker_listener, tmp_path, storage_dir, value):
    path = make_image(tmp_path / "hostile.dcm", study_uid="1.2.3.21", series_uid="1.2.3.21.1")
    ds = dcmread(path)
    good = ds.SOPInstanceUID
    ds.SOPInstanceUID = value
    before = files_under(tmp_path)
    ae = AE(ae_title="MODALITY2")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", broker_listener, ae_title="BROKER")
    try:
        # The request names a good UID; the data set's own (Type 1) SOP Instance UID is the hostile one.
        from pynetdicom.dimse_primitives import C_STORE

        original = C_STORE.AffectedSOPInstanceUID.fset

        def keep_good(self, uid):
            original(self, good if uid == value else uid)

        C_STORE.AffectedSOPInstanceUID = property(C_STORE.AffectedSOPInstanceUID.fget, keep_good)
        try:
            response = assoc.send_c_store(ds)
        finally:
            C_STORE.AffectedSOPInstanceUID = property(C_STORE.AffectedSOPInstanceUID.fget, original)
    finally:
        assoc.release()

    assert_refused_and_nothing_kept(response, "SOPInstanceUID", tmp_path, before)


@pytest.mark.parametrize("keyword, value", [("StudyInstanceUID", ".."), ("SeriesInstanceUID", "."),
                                            ("StudyInstanceUID", "1.02.003")])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_it_refuses_a_crafted_file_sent_by_storescu(broker_listener, tmp_path, storage_dir, keyword, value):
    path = make_image(tmp_path / "crafted.dcm", study_uid="1.2.3.22", series_uid="1.2.3.22.1")
    ds = dcmread(path)
    setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    before = files_under(tmp_path)

    result = storescu(broker_listener, [path], extra=("-v",))

    assert result.returncode != 0
    assert "Received Store Response (Error: CannotUnderstand)" in result.stdout + result.stderr
    (row,) = RejectedInstance.objects.all()
    assert row.status == 0xC000 and row.error_comment.startswith(f"Cannot understand: {keyword} ")
    assert value in row.error_comment
    assert files_under(tmp_path) == before
    assert StoredInstance.objects.count() == 0


@pytest.mark.parametrize("keyword", ["PatientID", "PatientName", "AccessionNumber", "StudyDescription"])
def test_it_refuses_a_nul_byte_in_an_indexed_value_as_a_permanent_error(broker_listener, tmp_path, storage_dir, keyword):
    path = make_image(tmp_path / "nul.dcm", study_uid="1.2.3.23", series_uid="1.2.3.23.1")
    ds = dcmread(path)
    setattr(ds, keyword, "AB\x00CD")
    before = files_under(tmp_path)

    response = send(broker_listener, ds)

    assert response.Status == 0xC000  # not 0xA700: sending it again will not help
    assert response.ErrorComment == f"Cannot understand: {keyword} has a NUL byte"
    assert files_under(tmp_path) == before
    assert StoredInstance.objects.count() == 0
    assert RejectedInstance.objects.get().error_comment == response.ErrorComment


def test_it_answers_a_database_data_error_as_cannot_understand_not_retry():
    from django.db import DataError

    from broker.dicom.services.storage import status_for

    assert status_for(DataError("value too long for type character varying(64)")) == (
        0xC000, "Cannot understand: value too long for type character varying(64)")


@pytest.mark.parametrize("relative", ["../x/y.dcm", "1.2/../../y.dcm", "/etc/passwd", "a/b/../../../c.dcm", "x.dcm"])
def test_it_builds_no_path_outside_the_storage_folder(tmp_path, relative):
    from broker.routing.storage import InvalidInstance, contained_path

    with pytest.raises(InvalidInstance, match="would leave the storage folder"):
        contained_path(tmp_path / "storage", relative)


def test_it_builds_the_path_of_a_valid_instance_inside_the_storage_folder(tmp_path):
    from broker.routing.storage import contained_path

    root = tmp_path / "storage"
    assert contained_path(root, "1.2/1.2.3/1.2.3.4.dcm") == root.resolve() / "1.2" / "1.2.3" / "1.2.3.4.dcm"


# --- a data set in another transfer syntax than the negotiated one -----------------------------------

def encoded(ds, *, implicit: bool, little: bool) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


ENCODINGS = {"1.2.840.10008.1.2": (True, True), "1.2.840.10008.1.2.1": (False, True), "1.2.840.10008.1.2.2": (False, False)}


def small_dataset():
    from pydicom import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5"
    ds.PatientName = "DOE^JANE"
    return ds


@pytest.mark.parametrize("sent", sorted(ENCODINGS))
@pytest.mark.parametrize("negotiated", sorted(ENCODINGS))
def test_it_tells_a_data_set_encoded_in_another_syntax_from_the_negotiated_one(sent, negotiated):
    from broker.routing.encoding import encoding_problem

    implicit, little = ENCODINGS[sent]
    for first in ("SpecificCharacterSet", "SOPClassUID", "PatientName"):  # whatever element comes first
        ds = small_dataset()
        for keyword in ("SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID"):
            if keyword_before(keyword, first):
                delattr(ds, keyword)
        problem = encoding_problem(encoded(ds, implicit=implicit, little=little), negotiated)
        assert (problem is None) == (sent == negotiated), (first, problem)


def keyword_before(keyword, first):
    from pydicom.tag import Tag

    return Tag(keyword) < Tag(first)


@pytest.mark.parametrize("data, problem", [
    (b"", None),
    (b"\x08\x00", "data set of 2 bytes is too short"),
    (b"\x08\x00\x05\x00CS\x40\x00ISO_IR 100", "data set is not explicit VR LE: length overrun"),
    (b"\x08\x00\x05\x00OB\x01\x00\x00\x00\x00\x00", "data set is not explicit VR LE: bad element header"),
])
def test_it_names_what_is_wrong_with_the_first_element(data, problem):
    from broker.routing.encoding import encoding_problem

    assert encoding_problem(data, "1.2.840.10008.1.2.1") == problem


def write_file_claiming(path, ds, *, claimed: str, implicit: bool, little: bool):
    """A DICOM file whose File Meta names `claimed` while its data set is encoded otherwise (a broken modality)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = claimed
    meta.ImplementationClassUID = "1.2.3.4"
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    write_file_meta_info(fp, meta, enforce_standard=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + fp.getvalue() + encoded(ds, implicit=implicit, little=little))
    return path


@pytest.mark.parametrize("claimed, sent, comment", [
    (ImplicitVRLittleEndian, (False, True), "Cannot understand: data set is explicit VR, not implicit VR LE"),
    (ExplicitVRLittleEndian, (True, True), "Cannot understand: data set is implicit VR, not explicit VR LE"),
    (ExplicitVRLittleEndian, (False, False), "Cannot understand: data set is big endian, not explicit VR LE"),
])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_it_refuses_a_data_set_sent_in_another_syntax_than_negotiated(broker_listener, tmp_path, storage_dir,
                                                                      monkeypatch, claimed, sent, comment):
    from pynetdicom import _config

    image = dcmread(make_image(tmp_path / "good.dcm", study_uid="1.2.3.24", series_uid="1.2.3.24.1"))
    del image.file_meta
    path = write_file_claiming(tmp_path / "lying.dcm", image, claimed=claimed, implicit=sent[0], little=sent[1])
    before = files_under(tmp_path)
    # pynetdicom then sends the file's data set bytes as they are, in the context of the syntax its meta names.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE(ae_title="MODALITY2")
    ae.add_requested_context(image.SOPClassUID, claimed)
    assoc = ae.associate("127.0.0.1", broker_listener, ae_title="BROKER")
    try:
        response = assoc.send_c_store(path)
    finally:
        assoc.release()

    assert (response.Status, response.ErrorComment) == (0xC000, comment)
    assert files_under(tmp_path) == before and StoredInstance.objects.count() == 0
    assert RejectedInstance.objects.get().error_comment == comment
