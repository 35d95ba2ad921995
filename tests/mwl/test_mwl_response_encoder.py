"""The pre-encoded responses are byte for byte what pydicom writes for `build_response`'s Dataset."""
from io import BytesIO

import pytest
from pydicom import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.dsutils import decode, encode

from broker.dicom.mwl_answers import encoder_for
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, identifier
from worklist.mwl.response import build_response

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
LITTLE_ENDIAN = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]


def with_code_sequences(ds: Dataset, *, asked: bool) -> Dataset:
    code = Dataset()
    if asked:
        code.CodeValue = ""
        code.CodeMeaning = ""
    ds.RequestedProcedureCodeSequence = [code] if asked else []
    ds.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence = [code] if asked else []
    return ds


def universal_sps(ds: Dataset) -> Dataset:
    ds.ScheduledProcedureStepSequence = [Dataset()]
    return ds


IDENTIFIERS = {
    "common keys": lambda: identifier(),
    "code sequences, some keys asked": lambda: with_code_sequences(identifier(), asked=True),
    "code sequences, all keys": lambda: with_code_sequences(identifier(), asked=False),
    "empty SPS item: every SPS key": lambda: universal_sps(identifier()),
    "unknown and numeric return keys": lambda: identifier({"PatientWeight": "", "PatientAge": "", "StudyDate": ""}),
    "query with a charset": lambda: identifier(charset="ISO_IR 100"),
}
CHARSETS = [["ISO_IR 192"], ["ISO_IR 100"], ["", "ISO 2022 IR 87"]]
NAMES = ["DOE^JOHN", "Müller^Jürgen", JAPANESE]


@pytest.fixture
def steps(db):
    made = []
    for n, name in enumerate(NAMES):
        procedure = make_procedure(make_order(make_patient(name=name, weight_kg="72.5")),
                                   code_value="CTHEAD", code_scheme="99LOCAL", code_meaning="CT Schädel")
        made.append(make_step(procedure, sps_id=f"S{n}", start=at(9 + n), station_ae_title="CT01\\CT02",
                              protocol_codes=[{"value": "P1", "scheme": "99LOCAL", "meaning": "Kopf ohne KM"}]))
    return made


@pytest.mark.parametrize("transfer_syntax", LITTLE_ENDIAN, ids=lambda ts: ts.name)
@pytest.mark.parametrize("charsets", CHARSETS, ids="\\".join)
@pytest.mark.parametrize("make_identifier", IDENTIFIERS.values(), ids=IDENTIFIERS.keys())
def test_it_encodes_each_response_as_pydicom_would(steps, make_identifier, charsets, transfer_syntax):
    ident = make_identifier()
    had_charset = "SpecificCharacterSet" in ident
    encoder = encoder_for(ident, charsets=charsets, request_had_charset=had_charset, transfer_syntax=transfer_syntax)
    args = (transfer_syntax.is_implicit_VR, True, transfer_syntax.is_deflated)
    for step in steps:
        built = build_response(ident, step, charsets=charsets, request_had_charset=had_charset)
        response = encoder.response(step)
        assert encode(response, *args) == encode(built, *args)
        assert response.encoded == encode(built, transfer_syntax.is_implicit_VR, True)  # what the sender takes


def test_it_returns_a_dataset_that_reads_like_the_built_one(steps):
    ident = identifier()
    encoder = encoder_for(ident, charsets=["ISO_IR 192"], request_had_charset=False,
                          transfer_syntax=ImplicitVRLittleEndian)
    response = decode(BytesIO(encode(encoder.response(steps[1]), True, True)), True, True)
    assert str(response.PatientName) == "Müller^Jürgen"
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert response.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == ["CT01", "CT02"]


def test_it_leaves_big_endian_to_the_dataset_builder(db):
    assert encoder_for(identifier(), charsets=["ISO_IR 192"], request_had_charset=False,
                       transfer_syntax=ExplicitVRBigEndian) is None
