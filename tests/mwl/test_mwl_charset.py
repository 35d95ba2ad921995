"""Specific Character Set round trips: the request decoded in its charset, each answer in the calling AE's."""

from broker.dicom.models import RemoteAE
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, find, identifier, matches

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"




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
