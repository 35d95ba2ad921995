"""Specific Character Set round trips: the request decoded in its charset, each answer in the calling AE's,
else in the query's, else in BROKER_MWL_DEFAULT_CHARSET; ISO 2022 answers checked byte for byte."""

from broker.dicom.models import RemoteAE
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import JAPANESE, JAPANESE_BYTES, KOREAN, KOREAN_BYTES, at, find, identifier, matches


def raw_name(ds) -> bytes:
    """Patient's Name as the bytes that came over the wire (pydicom keeps them until the value is read)."""
    return ds.get_item("PatientName").value

def step_for(name: str, sps_id: str = "S1"):
    return make_step(make_procedure(make_order(make_patient(name=name))), sps_id=sps_id, start=at(9))


def test_it_answers_in_utf8_by_default(port):
    step_for("Müller^Jürgen")
    step_for("山田^太郎", "S2")
    names = {str(ds.PatientName): ds.SpecificCharacterSet for ds in matches(find(port, identifier()))}
    assert names == {"Müller^Jürgen": "ISO_IR 192", "山田^太郎": "ISO_IR 192"}


def test_it_answers_in_latin1_and_transliterates_what_does_not_fit(port):
    RemoteAE.objects.create(ae_title="OLDMR", character_set="ISO_IR 100")
    step_for("Dvořák^Antonín")
    [ds] = matches(find(port, identifier(), calling_ae="OLDMR"))
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert ds.PatientName == "Dvorák^Antonín"


def test_it_round_trips_japanese_in_iso_2022_ir_87(port):
    RemoteAE.objects.create(ae_title="JPCT", character_set="ISO 2022 IR 6\\ISO 2022 IR 87")
    step_for(JAPANESE)
    [ds] = matches(find(port, identifier(), calling_ae="JPCT"))
    assert list(ds.SpecificCharacterSet) == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    assert str(ds.PatientName) == JAPANESE


def test_it_romanises_a_japanese_name_for_a_latin1_station(port):
    RemoteAE.objects.create(ae_title="OLDUS", character_set="ISO_IR 100")
    step_for("=山田^太郎=やまだ^たろう")
    [ds] = matches(find(port, identifier(), calling_ae="OLDUS"))
    assert ds.PatientName == "YAMADA^TAROU"  # romanised from the phonetic group, never dropped


def test_it_decodes_a_latin1_query(port):
    step_for("Müller^Jürgen")
    step_for("Meier^Hans", "S2")
    answers = find(port, identifier({"PatientName": "Müller*"}, charset="ISO_IR 100"))
    assert [str(ds.PatientName) for ds in matches(answers)] == ["Müller^Jürgen"]


def test_it_matches_an_ideographic_name_sent_in_iso_2022_ir_87(port):
    step_for(JAPANESE)
    step_for("Suzuki^Ichiro=鈴木^一郎", "S2")
    answers = find(port, identifier({"PatientName": "*=山田*"}, charset=["ISO 2022 IR 6", "ISO 2022 IR 87"]))
    assert [ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID for ds in matches(answers)] == ["S1"]


def test_it_answers_an_ae_without_a_charset_in_the_charset_of_its_query(port):
    step_for("Dvořák^Antonín")
    [ds] = matches(find(port, identifier(charset="ISO_IR 100"), calling_ae="LATIN1MR"))
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert raw_name(ds) == "Dvorák^Antonín".encode("latin_1")


def test_it_answers_in_the_configured_charset_whatever_the_query_was_sent_in(port):
    RemoteAE.objects.create(ae_title="OLDMR", character_set="ISO_IR 100")
    step_for("Dvořák^Antonín")
    [ds] = matches(find(port, identifier(charset="ISO_IR 192"), calling_ae="OLDMR"))
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert ds.PatientName == "Dvorák^Antonín"


def test_it_writes_a_japanese_name_with_the_escape_sequences_of_ps3_5(port):
    RemoteAE.objects.create(ae_title="JPCT", character_set="\\ISO 2022 IR 87")
    step_for(JAPANESE)
    [ds] = matches(find(port, identifier(), calling_ae="JPCT"))
    assert raw_name(ds) == JAPANESE_BYTES


def test_it_writes_no_latin1_byte_under_iso_2022_ir_6(port):
    RemoteAE.objects.create(ae_title="JPCT", character_set="ISO 2022 IR 6\\ISO 2022 IR 87")
    step_for("Müller^Jürgen=ミュラー")
    [ds] = matches(find(port, identifier(), calling_ae="JPCT"))
    data = raw_name(ds)
    assert data.rstrip(b" ") == b"Muller^Jurgen=" + "ミュラー".encode("iso2022_jp")
    assert all(byte < 0x80 for byte in data)


def test_it_writes_a_korean_name_with_g1_designated_in_each_component(port):
    RemoteAE.objects.create(ae_title="KRCT", character_set="\\ISO 2022 IR 149")
    step_for(KOREAN)
    [ds] = matches(find(port, identifier(), calling_ae="KRCT"))
    assert raw_name(ds) == KOREAN_BYTES
    assert str(ds.PatientName) == KOREAN


def test_it_transliterates_a_description_outside_iso_2022_ir_87(port):
    RemoteAE.objects.create(ae_title="JPCT", character_set="ISO 2022 IR 6\\ISO 2022 IR 87")
    make_step(make_procedure(make_order(make_patient(name=JAPANESE)), description="CT Schädel 頭部"),
              sps_id="S1", start=at(9))
    [ds] = matches(find(port, identifier(), calling_ae="JPCT"))
    assert ds.get_item("RequestedProcedureDescription").value.decode("iso2022_jp").rstrip() == "CT Schadel 頭部"
