"""Over the wire: person names matched per component group, trailing delimiters not counted, and every
other key matched case-sensitively (PS3.4 C.2.2.2.1, C.2.2.2.4), the same on SQLite and PostgreSQL."""
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import JAPANESE, at, find, identifier, matches

SPS = "ScheduledProcedureStepSequence"
IR6_IR87 = ["ISO 2022 IR 6", "ISO 2022 IR 87"]


def step_for(name: str, sps_id: str, **procedure):
    return make_step(make_procedure(make_order(make_patient(name=name)), **procedure), sps_id=sps_id, start=at(9))


def found(port, top=None, sps=None, charset=None) -> list[str]:
    answers = find(port, identifier(top, sps, charset=charset))
    return sorted(ds[SPS][0].ScheduledProcedureStepID for ds in matches(answers))


def test_it_ignores_trailing_component_delimiters_in_a_name_query(port):
    step_for("DOE^JOHN", "S1")
    step_for("DOE^JOHNNY", "S2")
    assert found(port, {"PatientName": "DOE^JOHN^^^"}) == ["S1"]


def test_it_ignores_trailing_component_delimiters_in_a_stored_name(port):
    step_for("DOE^JOHN^^", "S1")
    step_for("DOE^JOHN^Q", "S2")
    assert found(port, {"PatientName": "DOE^JOHN"}) == ["S1"]


def test_it_matches_a_query_on_the_ideographic_group_alone(port):
    step_for(JAPANESE, "S1")
    step_for("Suzuki^Ichiro=鈴木^一郎", "S2")
    assert found(port, {"PatientName": "=山田^太郎"}, charset=IR6_IR87) == ["S1"]


def test_it_matches_the_alphabetic_and_phonetic_groups_and_skips_the_empty_one(port):
    step_for(JAPANESE, "S1")
    step_for("Yamada^Tarou=山田^太郎=すずき^たろう", "S2")
    assert found(port, {"PatientName": "Yamada^Tarou==やまだ^たろう"}, charset=IR6_IR87) == ["S1"]


def test_it_keeps_wildcards_inside_a_component_group(port):
    step_for(JAPANESE, "S1")
    step_for("Yamamoto^Jiro=山本^次郎", "S2")
    step_for("Tanaka^Taro=田中^太郎", "S3")
    assert found(port, {"PatientName": "=山*"}, charset=IR6_IR87) == ["S1", "S2"]


def test_it_matches_names_regardless_of_case(port):
    step_for("DOE^JOHN", "S1")
    assert found(port, {"PatientName": "doe^john"}) == ["S1"]


def test_it_matches_a_referring_physician_per_component_group_regardless_of_case(port):
    make_step(make_procedure(make_order(referring_physician_name="WELBY^MARCUS")), sps_id="S1", start=at(9))
    make_step(make_procedure(make_order(referring_physician_name="WELBY^MARCELLA")), sps_id="S2", start=at(9))
    assert found(port, {"ReferringPhysicianName": "welby^marcus^"}) == ["S1"]


def test_it_matches_a_non_ascii_referring_physician_regardless_of_case(port):
    make_step(make_procedure(make_order(referring_physician_name="MÜLLER^HANS")), sps_id="S1", start=at(9))
    assert found(port, {"ReferringPhysicianName": "müller^hans"}, charset="ISO_IR 192") == ["S1"]


def test_it_matches_a_procedure_description_case_sensitively(port):
    step_for("DOE^JOHN", "S1", description="CT HEAD")
    step_for("DOE^JANE", "S2", description="ct head")
    assert found(port, {"RequestedProcedureDescription": "CT HEAD"}) == ["S1"]


def test_it_matches_a_description_wildcard_case_sensitively(port):
    step_for("DOE^JOHN", "S1", description="CT HEAD")
    step_for("DOE^JANE", "S2", description="ct head")
    assert found(port, {"RequestedProcedureDescription": "ct*"}) == ["S2"]


def test_it_matches_an_accession_number_case_sensitively(port):
    make_step(make_procedure(make_order(accession_number="ACC-77")), sps_id="S1", start=at(9))
    make_step(make_procedure(make_order(accession_number="acc-77")), sps_id="S2", start=at(9))
    assert found(port, {"AccessionNumber": "acc-77"}) == ["S2"]


def test_it_matches_a_modality_case_sensitively(port):
    make_step(sps_id="S1", modality="MR", start=at(9))
    assert found(port, sps={"Modality": "mr"}) == []
    assert found(port, sps={"Modality": "MR"}) == ["S1"]


def test_it_matches_a_status_case_sensitively(port):
    make_step(sps_id="S1", start=at(9))
    assert found(port, sps={"ScheduledProcedureStepStatus": "scheduled"}) == []
    assert found(port, sps={"ScheduledProcedureStepStatus": "SCHEDULED"}) == ["S1"]
