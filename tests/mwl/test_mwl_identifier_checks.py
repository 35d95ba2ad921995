"""Malformed and multi-valued C-FIND identifiers over real associations: a precise failure, never a silent Success.

Each answer is a failure status with an Error Comment naming the attribute, a warning in the log
and the query-log row staff see, with that same status.
"""
import logging

import pytest

from broker.dicom.models import WorklistQuery
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import (
    at,
    da,
    final_status,
    find,
    find_raw,
    identifier,
    matches,
    raw_element,
    raw_sps_item,
    wait_until,
)

SPS = "ScheduledProcedureStepSequence"




def refused(answers):
    [(status, ds, status_ds)] = answers
    assert ds is None
    return status, status_ds


def offending(status_ds) -> list[int]:
    value = status_ds.OffendingElement
    return [int(tag) for tag in value] if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") else [int(value)]


def staff_row(status: int) -> WorklistQuery:
    return wait_until(lambda: WorklistQuery.objects.filter(status=status).first(), message=f"row with 0x{status:04X}")


@pytest.mark.parametrize("top, sps, keyword, tag", [
    ({}, {"ScheduledProcedureStepStartDate": [da(), da(1)]}, "ScheduledProcedureStepStartDate", 0x00400002),
    ({}, {"ScheduledProcedureStepStartTime": ["0800", "0900"]}, "ScheduledProcedureStepStartTime", 0x00400003),
    ({"PatientBirthDate": ["19700101", "19800101"]}, {}, "PatientBirthDate", 0x00100030),
])
def test_it_refuses_a_second_value_where_one_is_allowed(port, caplog, top, sps, keyword, tag):
    with caplog.at_level(logging.WARNING):
        status, status_ds = refused(find(port, identifier(top, sps)))
    assert status == 0xA900
    assert status_ds.ErrorComment.startswith(f"{keyword}: one value only")
    assert offending(status_ds) == [tag]
    assert any("refused 0xA900" in r.getMessage() and not r.exc_info for r in caplog.records)
    assert staff_row(0xA900).error_comment.startswith(keyword)


@pytest.mark.parametrize("top, sps, keyword", [
    ({"PatientID": ["", ""]}, {}, "PatientID"),
    ({}, {"Modality": ["", ""]}, "Modality"),
])
def test_it_refuses_a_key_of_only_empty_values(port, top, sps, keyword):
    status, status_ds = refused(find(port, identifier(top, sps)))
    assert status == 0xA900
    assert status_ds.ErrorComment == f"{keyword}: only empty values"


@pytest.mark.parametrize("top, sps, keyword, limit", [
    ({"PatientName": "DOE*" + "?" * 60_000}, {}, "PatientName", 194),
    ({"PatientID": "P" * 65}, {}, "PatientID", 64),
    ({}, {"ScheduledStationAETitle": "CT" * 9}, "ScheduledStationAETitle", 16),
])
def test_it_refuses_a_value_longer_than_its_vr_allows(port, top, sps, keyword, limit):
    status, status_ds = refused(find(port, identifier(top, sps)))
    assert status == 0xA900
    assert status_ds.ErrorComment.startswith(f"{keyword}: a value of ")
    assert f"at most {limit}" in status_ds.ErrorComment
    assert staff_row(0xA900).error_comment.startswith(keyword)


def test_it_refuses_a_person_name_of_four_component_groups(port):
    status, status_ds = refused(find(port, identifier({"PatientName": "DOE=ドウ=どう=X"}, charset="ISO_IR 192")))
    assert status == 0xA900
    assert status_ds.ErrorComment == "PatientName: more than 3 component groups"
    assert offending(status_ds) == [0x00100010]
    assert staff_row(0xA900).error_comment.startswith("PatientName")


def test_it_matches_a_value_as_long_as_its_vr_allows(port):
    status, _ = refused(find(port, identifier({"PatientID": "P" * 64}, {})))
    assert status == 0x0000


def test_it_keeps_matching_a_list_of_uids(port):
    one = make_step(sps_id="ONE", start=at(9))
    make_step(sps_id="TWO", start=at(9))
    three = make_step(sps_id="THREE", start=at(9))
    uids = [one.requested_procedure.study_instance_uid, three.requested_procedure.study_instance_uid]
    answers = find(port, identifier({"StudyInstanceUID": uids}))
    assert sorted(ds[SPS][0].ScheduledProcedureStepID for ds in matches(answers)) == ["ONE", "THREE"]


def test_it_keeps_matching_a_list_of_patient_ids(port):
    make_step(make_procedure(make_order(make_patient(patient_id="P1"))), sps_id="A", start=at(9))
    make_step(make_procedure(make_order(make_patient(patient_id="P2"))), sps_id="B", start=at(9))
    make_step(make_procedure(make_order(make_patient(patient_id="P3"))), sps_id="C", start=at(9))
    answers = find(port, identifier({"PatientID": ["P1", "P3"]}))
    assert sorted(ds[SPS][0].ScheduledProcedureStepID for ds in matches(answers)) == ["A", "C"]


def test_it_refuses_more_values_than_the_cap(port, settings):
    answers = find(port, identifier({"PatientID": [f"P{n}" for n in range(20000)]}))
    status, status_ds = refused(answers)
    assert status == 0xA900
    assert status_ds.ErrorComment == f"PatientID: 20000 values, at most {settings.BROKER_MWL_MAX_VALUES_PER_KEY}"
    assert offending(status_ds) == [0x00100020]


PATIENT_NAME = (0x0010, 0x0010)
PATIENT_ID = (0x0010, 0x0020)
CHARSET = (0x0008, 0x0005)


@pytest.mark.parametrize("raw, comment, tag", [
    (raw_element(*PATIENT_ID, b"AB\x00CD") + raw_sps_item(), "PatientID: NUL byte in the value", 0x00100020),
    (raw_element(*PATIENT_ID, b"P1\\" * 20000) + raw_sps_item(), "PatientID: 20001 values, at most 100", 0x00100020),
], ids=["nul", "20000-values"])
def test_it_refuses_bad_values_sent_as_raw_bytes(port, raw, comment, tag):
    status, status_ds = refused(find_raw(port, raw))
    assert (status, status_ds.ErrorComment, offending(status_ds)) == (0xA900, comment, [tag])
    assert staff_row(0xA900).error_comment == comment


@pytest.mark.parametrize("raw, comment, tag", [
    (raw_element(*PATIENT_ID, b"") + raw_element(*PATIENT_NAME, b"DOE^", length=1000),
     "PatientName: value length 1000 runs past the end", 0x00100010),
    (raw_element(*CHARSET, b"ISO_IR 999") + raw_element(*PATIENT_NAME, b"DOE^JOHN") + raw_sps_item(),
     "Specific Character Set 'ISO_IR 999' not supported", 0x00080005),
    (raw_element(*CHARSET, b"ISO_IR 192") + raw_element(*PATIENT_NAME, b"M\xfcller^J") + raw_sps_item(),
     "PatientName: not valid UTF-8 (ISO_IR 192)", 0x00100010),
    (raw_element(*PATIENT_ID, b"P1") + raw_element(*PATIENT_ID, b"P2") + raw_sps_item(),
     "PatientID appears twice in the identifier", 0x00100020),
    (raw_element(*PATIENT_ID, b"P1") + raw_sps_item(raw_element(0x0008, 0x0060, b"CT", length=80)),
     "Modality: value length 80 runs past the end", 0x00080060),
    (raw_element(*CHARSET, b"ISO_IR 100\xe9") + raw_element(*PATIENT_NAME, b"DOE^JOHN") + raw_sps_item(),
     "Specific Character Set 'ISO_IR 100/xe9' not supported", 0x00080005),
    (raw_element(*CHARSET, b"ISO_IR 100\\ISO_IR 192") + raw_element(*PATIENT_NAME, b"DOE^JOHN") + raw_sps_item(),
     "Specific Character Set 'ISO_IR 100/ISO_IR 192' not supported", 0x00080005),
], ids=["length-past-end", "unknown-charset", "bad-utf8", "duplicate-tag", "length-past-item", "non-ascii-charset",
        "192-as-extension"])
def test_it_refuses_malformed_identifiers(port, caplog, raw, comment, tag):
    make_step(make_procedure(make_order(make_patient(name="DOE^JOHN", patient_id="P1"))), start=at(9))
    with caplog.at_level(logging.WARNING):
        status, status_ds = refused(find_raw(port, raw))
    assert (status, status_ds.ErrorComment, offending(status_ds)) == (0xC000, comment, [tag])
    assert any(comment in r.getMessage() and not r.exc_info for r in caplog.records)
    # Staff's row keeps the peer's bytes readable ("\xe9"); the wire's comment could not carry the backslash.
    assert staff_row(0xC000).error_comment.replace("\\", "/") == comment


def test_it_still_answers_a_well_formed_raw_identifier(port):
    make_step(make_procedure(make_order(make_patient(name="DOE^JOHN", patient_id="P1"))), sps_id="S1", start=at(9))
    raw = (raw_element(*CHARSET, b"ISO_IR 192") + raw_element(*PATIENT_NAME, b"DOE^JOHN")
           + raw_element(*PATIENT_ID, b"P1") + raw_sps_item(raw_element(0x0040, 0x0009, b"")))
    answers = find_raw(port, raw)
    assert [ds[SPS][0].ScheduledProcedureStepID for ds in matches(answers)] == ["S1"]
    assert final_status(answers) == 0x0000


@pytest.mark.dcmtk
def test_it_answers_findscu_a_two_valued_start_date_with_a900(port, dcmtk, tmp_path):
    import subprocess

    argv = ["findscu", "-v", "-W", "-aet", "CT01", "-aec", "BROKER", "-k",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261210\\20261211",
            "127.0.0.1", str(port)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert "Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in output, output  # 0xA900
    assert "A-ABORT" not in output.upper(), output
    row = staff_row(0xA900)
    assert row.error_comment.startswith("ScheduledProcedureStepStartDate: one value only")


@pytest.mark.parametrize("raw, comment", [
    (raw_element(*PATIENT_ID, b"P1"), None),
    (raw_element(*PATIENT_ID, b"P1") + raw_sps_item(raw_element(0x0008, 0x0060, b"CT")), None),
    (raw_element(*PATIENT_ID, b"P1")[:3], "identifier truncated inside an element header"),
    (raw_element(*PATIENT_ID, b"P1")[:7], "identifier truncated inside PatientID"),
    (raw_element(*PATIENT_NAME, b"AB", length=0x7FFFFFFF), "PatientName: value length 2147483647 runs past the end"),
    (raw_element(*CHARSET, b"ISO_IR 100") + raw_element(*PATIENT_NAME, b"M\xfcller"), None),
    (raw_element(*CHARSET, b"ISO_IR 192") + raw_element(*PATIENT_NAME, "Müller".encode()), None),
], ids=["one", "sequence", "cut-header", "cut-length", "huge-length", "latin1", "utf8"])
def test_it_checks_the_identifier_bytes(raw, comment):
    from broker.dicom.identifier_check import IdentifierEncodingError, check_encoding

    if comment is None:
        check_encoding(raw, implicit=True, little=True)
        return
    with pytest.raises(IdentifierEncodingError) as raised:
        check_encoding(raw, implicit=True, little=True)
    assert raised.value.comment == comment


@pytest.mark.parametrize("value, comment", [
    ("1..2", "StudyInstanceUID: '1..2' has an empty component (two dots in a row, or a leading or trailing dot)"),
    ("00.1", "StudyInstanceUID: '00.1' has a component with a leading zero"),
    ("1.2.a.4", "StudyInstanceUID: '1.2.a.4' has characters other than digits and dots"),
    ("1.2.*", "StudyInstanceUID: '1.2.*' has characters other than digits and dots"),
    ("7", "StudyInstanceUID: '7' has a single component (a UID has at least two)"),
    (["1.2.3", "1.02"], "StudyInstanceUID: '1.02' has a component with a leading zero"),
], ids=["double-dot", "leading-zero", "letter", "wildcard", "one-component", "second-of-a-list"])
def test_it_refuses_a_uid_key_that_is_not_a_uid(port, value, comment):
    from broker.dicom.error_comment import error_comment

    status, status_ds = refused(find(port, identifier({"StudyInstanceUID": value})))
    # The wire carries the first 64 characters (LO); staff's row the whole sentence.
    assert (status, status_ds.ErrorComment, offending(status_ds)) == (0xA900, error_comment(comment), [0x0020000D])
    assert staff_row(0xA900).error_comment == comment


@pytest.mark.parametrize("value", ["", "*", "1.2.840.10008.1.1", "0.0"])
def test_it_takes_a_uid_key_that_is_a_uid_or_universal(port, value):
    status, _ = refused(find(port, identifier({"StudyInstanceUID": value})))
    assert status == 0x0000
