"""Interoperability proof: DCMTK's findscu -W against the running listener, for the common modality queries."""
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from broker.dicom.models import WorklistQuery
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import JAPANESE, MANY, at, da, identifier, make_many_steps, wait_until

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("dcmtk")]


def findscu(port: int, tmp_path: Path, *, keys: list[str] = (), query: Dataset | None = None,
            calling_ae: str = "CT01", options: list[str] = ()) -> list[Dataset]:
    """Run findscu -W; return the responses it extracted (-X), in order."""
    out = tmp_path / "responses"
    out.mkdir(exist_ok=True)
    argv = ["findscu", "-W", "-aet", calling_ae, "-aec", "BROKER", "-X", "-od", str(out), *options]
    for key in keys:
        argv += ["-k", key]
    argv += ["127.0.0.1", str(port)]
    if query is not None:
        path = tmp_path / "query.dcm"
        query.file_meta = FileMetaDataset()
        query.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        query.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)
        argv.append(str(path))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


SPS = "ScheduledProcedureStepSequence"


def test_it_answers_findscu_for_station_and_today(port, tmp_path):
    patient = make_patient(name="SMITH^ANNA", patient_id="P100")
    make_step(make_procedure(make_order(patient, accession_number="A100"), description="CT HEAD"),
              sps_id="S100", station_ae_title="CT01", modality="CT", start=at(10, 15))
    make_step(sps_id="S200", station_ae_title="CT02", start=at(10, 15))
    query = identifier(sps={"ScheduledStationAETitle": "CT01", "ScheduledProcedureStepStartDate": da()})
    [rsp] = findscu(port, tmp_path, query=query)
    assert (rsp.PatientName, rsp.PatientID, rsp.AccessionNumber) == ("SMITH^ANNA", "P100", "A100")
    item = rsp[SPS][0]
    assert (item.ScheduledProcedureStepID, item.ScheduledProcedureStepStartDate,
            item.ScheduledProcedureStepStartTime, item.Modality) == ("S100", da(), "101500", "CT")
    assert rsp.RequestedProcedureDescription == "CT HEAD"


def test_it_answers_findscu_for_a_patient_id(port, tmp_path):
    make_step(make_procedure(make_order(make_patient(patient_id="P555"))), sps_id="MINE", start=at(9))
    make_step(make_procedure(make_order(make_patient(patient_id="P556"))), sps_id="OTHER", start=at(9))
    responses = findscu(port, tmp_path, keys=["PatientID=P555", "PatientName", f"{SPS}[0].ScheduledProcedureStepID",
                                              f"{SPS}[0].ScheduledProcedureStepStartDate"])
    assert [r[SPS][0].ScheduledProcedureStepID for r in responses] == ["MINE"]
    assert responses[0].PatientID == "P555"


def test_it_answers_findscu_for_an_accession_number(port, tmp_path):
    make_step(make_procedure(make_order(accession_number="ACC-77")), sps_id="MINE", start=at(9))
    make_step(make_procedure(make_order(accession_number="ACC-78")), sps_id="OTHER", start=at(9))
    responses = findscu(port, tmp_path, keys=["AccessionNumber=ACC-77", "PatientName", "StudyInstanceUID",
                                              f"{SPS}[0].ScheduledProcedureStepID"])
    assert [r[SPS][0].ScheduledProcedureStepID for r in responses] == ["MINE"]
    assert responses[0].StudyInstanceUID


def test_it_answers_findscu_for_modality_and_a_date_range(port, tmp_path):
    make_step(sps_id="MR-TODAY", modality="MR", start=at(9))
    make_step(sps_id="MR-IN3DAYS", modality="MR", start=at(9, days=3))
    make_step(sps_id="MR-IN9DAYS", modality="MR", start=at(9, days=9))
    make_step(sps_id="CT-TODAY", modality="CT", start=at(9))
    responses = findscu(port, tmp_path, keys=[f"{SPS}[0].Modality=MR",
                                              f"{SPS}[0].ScheduledProcedureStepStartDate={da()}-{da(7)}",
                                              f"{SPS}[0].ScheduledProcedureStepID", "PatientName"])
    assert [r[SPS][0].ScheduledProcedureStepID for r in responses] == ["MR-TODAY", "MR-IN3DAYS"]


def test_it_answers_findscu_in_the_charset_of_the_calling_ae(port, tmp_path):
    from broker.dicom.models import RemoteAE

    RemoteAE.objects.create(ae_title="OLDCT", character_set="ISO_IR 100")
    make_step(make_procedure(make_order(make_patient(name="Dvořák^Antonín"))), sps_id="LATIN", start=at(9))
    [rsp] = findscu(port, tmp_path, keys=["PatientName", f"{SPS}[0].ScheduledProcedureStepID"], calling_ae="OLDCT")
    assert rsp.SpecificCharacterSet == "ISO_IR 100"
    assert rsp.PatientName == "Dvorák^Antonín"


def test_it_answers_findscu_in_iso_2022_ir_87_bytes_that_iso2022_jp_decodes(port, tmp_path):
    make_step(make_procedure(make_order(make_patient(name=JAPANESE))), sps_id="JP", start=at(9))
    [rsp] = findscu(port, tmp_path, keys=["SpecificCharacterSet=ISO 2022 IR 6\\ISO 2022 IR 87", "PatientName",
                                          f"{SPS}[0].ScheduledProcedureStepID"], calling_ae="JPCT")
    raw = rsp.get_item("PatientName").value  # the bytes as findscu received and wrote them (-X)
    assert raw.rstrip(b" ").decode("iso2022_jp") == JAPANESE
    assert list(rsp.SpecificCharacterSet) == ["ISO 2022 IR 6", "ISO 2022 IR 87"]


def test_it_answers_a_findscu_query_on_the_ideographic_group(port, tmp_path):
    make_step(make_procedure(make_order(make_patient(name=JAPANESE))), sps_id="YAMADA", start=at(9))
    make_step(make_procedure(make_order(make_patient(name="Suzuki^Ichiro=鈴木^一郎"))), sps_id="SUZUKI", start=at(9))
    query = identifier({"PatientName": "=山田^太郎"}, charset=["ISO 2022 IR 6", "ISO 2022 IR 87"])
    responses = findscu(port, tmp_path, query=query, calling_ae="JPCT")
    assert [r[SPS][0].ScheduledProcedureStepID for r in responses] == ["YAMADA"]


def test_it_answers_an_unconfigured_findscu_in_the_latin1_it_asked_in(port, tmp_path):
    make_step(make_procedure(make_order(make_patient(name="Müller^Jürgen"))), sps_id="LATIN", start=at(9))
    [rsp] = findscu(port, tmp_path, keys=["SpecificCharacterSet=ISO_IR 100", "PatientName",
                                          f"{SPS}[0].ScheduledProcedureStepID"], calling_ae="LATINCT")
    assert rsp.get_item("PatientName").value.rstrip(b" ") == "Müller^Jürgen".encode("latin_1")
    assert rsp.SpecificCharacterSet == "ISO_IR 100"


@pytest.mark.slow
def test_it_stops_when_findscu_cancels(port, tmp_path, settings):
    make_many_steps(settings)
    responses = findscu(port, tmp_path, keys=["PatientName", f"{SPS}[0].ScheduledProcedureStepID"],
                        options=["--cancel", "1"])
    assert 1 <= len(responses) < MANY
    row = wait_until(lambda: WorklistQuery.objects.first())
    assert row.status == 0xFE00 and row.match_count == len(responses)
