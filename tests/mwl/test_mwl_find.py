"""The worklist over real associations: a pynetdicom SCU against the listener, per matching type and key family."""
import pytest
from pydicom import Dataset

from broker.dicom.models import RemoteAE, WorklistQuery
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import (
    MANY,
    at,
    da,
    final_status,
    find,
    find_in_other_process,
    identifier,
    make_many_steps,
    matches,
    wait_until,
)


def sps_ids(answers) -> list[str]:
    return sorted(ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID for ds in matches(answers))


def test_it_answers_a_station_query_for_today(port):
    make_step(sps_id="MINE", station_ae_title="CT01", start=at(10))
    make_step(sps_id="OTHER", station_ae_title="CT02", start=at(10))
    answers = find(port, identifier(sps={"ScheduledStationAETitle": "CT01", "ScheduledProcedureStepStartDate": da()}))
    assert sps_ids(answers) == ["MINE"]
    assert final_status(answers) == 0x0000


def test_it_answers_success_without_matches(port):
    make_step(station_ae_title="CT01", start=at(10))
    answers = find(port, identifier(sps={"ScheduledStationAETitle": "MR09"}))
    assert answers == [(0x0000, None, answers[0][2])]


def test_it_returns_stored_values_for_universal_keys(port):
    patient = make_patient(patient_id="P-77", name="ROE^JANE", sex="F")
    step = make_step(make_procedure(make_order(patient, accession_number="A77")), sps_id="S77", start=at(9, 30),
                     modality="MR", station_ae_title="MR01")
    [ds] = matches(find(port, identifier()))
    assert (ds.PatientName, ds.PatientID, ds.PatientSex, ds.AccessionNumber) == ("ROE^JANE", "P-77", "F", "A77")
    item = ds.ScheduledProcedureStepSequence[0]
    assert (item.Modality, item.ScheduledStationAETitle, item.ScheduledProcedureStepStartDate,
            item.ScheduledProcedureStepStartTime) == ("MR", "MR01", da(), "093000")
    assert ds.StudyInstanceUID == step.requested_procedure.study_instance_uid


@pytest.mark.parametrize("pattern, expected", [
    ("SMI*", ["SMITH", "SMYTHE-NOT"][:1]),
    ("SM?TH^*", ["SMITH"]),
    ("*^ANNA", ["SMITH"]),
    ("SM*H*", ["SMITH"]),
])
def test_it_matches_patient_names_with_wildcards(port, pattern, expected):
    make_step(make_procedure(make_order(make_patient(name="SMITH^ANNA"))), sps_id="SMITH", start=at(8))
    make_step(make_procedure(make_order(make_patient(name="JONES^SMITHY"))), sps_id="JONES", start=at(8))
    assert sps_ids(find(port, identifier({"PatientName": pattern}))) == expected


def test_it_matches_person_names_ignoring_case_and_accents_per_component(port):
    make_step(make_procedure(make_order(make_patient(name="Müller^Jürgen^^^"))), sps_id="MUELLER", start=at(8))
    make_step(make_procedure(make_order(make_patient(name="Müller^Jürgen^Karl"))), sps_id="MIDDLE", start=at(8))
    assert sps_ids(find(port, identifier({"PatientName": "muller^jurgen"}))) == ["MUELLER"]


def test_it_matches_patient_id_as_single_value(port):
    make_step(make_procedure(make_order(make_patient(patient_id="12345"))), sps_id="A", start=at(8))
    make_step(make_procedure(make_order(make_patient(patient_id="123456"))), sps_id="B", start=at(8))
    assert sps_ids(find(port, identifier({"PatientID": "12345"}))) == ["A"]


def test_it_matches_the_accession_number(port):
    make_step(make_procedure(make_order(accession_number="ACC-1")), sps_id="A", start=at(8))
    make_step(make_procedure(make_order(accession_number="ACC-2")), sps_id="B", start=at(8))
    assert sps_ids(find(port, identifier({"AccessionNumber": "ACC-2"}))) == ["B"]


@pytest.mark.parametrize("date_range, expected", [
    (f"{da(-1)}-{da(1)}", ["D-1", "D0", "D1"]),
    (f"-{da(0)}", ["D-1", "D-5", "D0"]),
    (f"{da(1)}-", ["D1", "D5"]),
    (da(5), ["D5"]),
])
def test_it_matches_start_date_ranges(port, date_range, expected):
    for days in (-5, -1, 0, 1, 5):
        make_step(sps_id=f"D{days}", start=at(12, days=days))
    assert sps_ids(find(port, identifier(sps={"ScheduledProcedureStepStartDate": date_range}))) == expected


def test_it_reads_start_date_and_time_ranges_as_one_period(port):
    make_step(sps_id="DAY0-0900", start=at(9))  # before the period starts
    make_step(sps_id="DAY0-1100", start=at(11))
    make_step(sps_id="DAY1-0700", start=at(7, days=1))  # inside: the period is continuous, not daily
    make_step(sps_id="DAY2-1700", start=at(17, days=2))
    make_step(sps_id="DAY2-1900", start=at(19, days=2))  # after it ends
    answers = find(port, identifier(sps={"ScheduledProcedureStepStartDate": f"{da()}-{da(2)}",
                                         "ScheduledProcedureStepStartTime": "1000-1800"}))
    assert sps_ids(answers) == ["DAY0-1100", "DAY1-0700", "DAY2-1700"]


def test_it_applies_a_time_range_to_the_default_window(port):
    make_step(sps_id="EARLY", start=at(7))
    make_step(sps_id="LATE", start=at(15))
    make_step(sps_id="TOMORROW", start=at(15, days=1))
    assert sps_ids(find(port, identifier(sps={"ScheduledProcedureStepStartTime": "1200-"}))) == ["LATE"]


def test_it_shows_only_today_when_no_date_is_sent(port):
    for days in (-1, 0, 1):
        make_step(sps_id=f"D{days}", start=at(12, days=days))
    assert sps_ids(find(port, identifier())) == ["D0"]


def test_it_matches_a_list_of_study_instance_uids(port):
    steps = [make_step(sps_id=f"U{n}", start=at(8)) for n in range(3)]
    uids = [steps[0].requested_procedure.study_instance_uid, steps[2].requested_procedure.study_instance_uid]
    assert sps_ids(find(port, identifier({"StudyInstanceUID": uids}))) == ["U0", "U2"]


def test_it_matches_modality_inside_the_step_sequence(port):
    make_step(sps_id="CT", modality="CT", start=at(8))
    make_step(sps_id="MR", modality="MR", start=at(8))
    assert sps_ids(find(port, identifier(sps={"Modality": "MR"}))) == ["MR"]


def test_it_matches_the_requested_procedure_code_sequence(port):
    make_step(make_procedure(code_value="CTHEAD"), sps_id="HEAD", start=at(8))
    make_step(make_procedure(code_value="CTCHEST"), sps_id="CHEST", start=at(8))
    code = Dataset()
    code.CodeValue = "CTCH*"
    code.CodingSchemeDesignator = ""
    code.CodeMeaning = ""
    answers = find(port, identifier({"RequestedProcedureCodeSequence": [code]}))
    assert sps_ids(answers) == ["CHEST"]
    returned = matches(answers)[0].RequestedProcedureCodeSequence[0]
    assert (returned.CodeValue, returned.CodingSchemeDesignator) == ("CTCHEST", "99LOCAL")


def test_it_matches_the_scheduled_protocol_code_sequence(port):
    make_step(sps_id="TWO", start=at(8), protocol_codes=[{"value": "P1", "scheme": "L", "meaning": "Head"},
                                                         {"value": "P9", "scheme": "L", "meaning": "Angio"}])
    make_step(sps_id="ONE", start=at(8), protocol_codes=[{"value": "P1", "scheme": "L", "meaning": "Head"}])
    code = Dataset()
    code.CodeValue = "P9"
    answers = find(port, identifier(sps={"ScheduledProtocolCodeSequence": [code]}))
    assert sps_ids(answers) == ["TWO"]
    codes = matches(answers)[0].ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence
    assert [c.CodeValue for c in codes] == ["P1", "P9"]  # a matching item returns the whole sequence


def test_it_matches_one_station_of_a_pool(port):
    make_step(sps_id="POOL", station_ae_title="CT01\\CT02", start=at(8))
    make_step(sps_id="SOLO", station_ae_title="CT03", start=at(8))
    answers = find(port, identifier(sps={"ScheduledStationAETitle": "CT02"}))
    assert sps_ids(answers) == ["POOL"]
    assert list(matches(answers)[0].ScheduledProcedureStepSequence[0].ScheduledStationAETitle) == ["CT01", "CT02"]


def test_it_hides_started_steps_unless_the_status_is_asked(port):
    make_step(sps_id="WAITING", start=at(8))
    make_step(sps_id="STARTED", start=at(8), status="STARTED")
    make_step(sps_id="DONE", start=at(8), status="COMPLETED")
    assert sps_ids(find(port, identifier())) == ["WAITING"]
    asked = find(port, identifier(sps={"ScheduledProcedureStepStatus": ""}))
    assert sps_ids(asked) == ["STARTED", "WAITING"]
    assert find(port, identifier(sps={"ScheduledProcedureStepStatus": "COMPLETED"}))[0][1] \
        .ScheduledProcedureStepSequence[0].ScheduledProcedureStepStatus == "COMPLETED"


def test_it_hides_steps_of_held_orders(port):
    make_step(make_procedure(make_order(status="HELD")), sps_id="HELD", start=at(8))
    make_step(sps_id="OPEN", start=at(8))
    assert sps_ids(find(port, identifier())) == ["OPEN"]


def test_it_caps_the_answer(port, settings):
    settings.BROKER_MWL_MAX_RESULTS = 2
    for n in range(3):
        make_step(sps_id=f"C{n}", start=at(8 + n))
    assert sps_ids(find(port, identifier())) == ["C0", "C1"]
    assert "capped" in logged().error_comment


def test_it_returns_exactly_the_requested_keys_in_their_nesting(port):
    make_step(sps_id="KEYS", start=at(8))
    query = identifier({"PatientName": "", "PatientAddress": ""}, {"Modality": ""}, common=False)
    [ds] = matches(find(port, query))
    assert [e.keyword for e in ds] == ["PatientName", "PatientAddress", "ScheduledProcedureStepSequence"]
    assert ds.PatientAddress == ""  # a key the broker does not keep comes back empty
    assert [e.keyword for e in ds.ScheduledProcedureStepSequence[0]] == ["Modality"]


def test_it_fills_type_1_keys_the_order_left_empty(port):
    step = make_step(sps_id="", start=at(8))
    [ds] = matches(find(port, identifier()))
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID == str(step.pk)


def test_it_returns_the_whole_step_sequence_for_an_empty_item(port):
    make_step(sps_id="ALL", start=at(8), pre_medication="NONE")
    query = identifier({"PatientID": ""}, common=False)
    [ds] = matches(find(port, query))
    item = ds.ScheduledProcedureStepSequence[0]
    assert item.ScheduledProcedureStepID == "ALL" and item.PreMedication == "NONE"
    assert item.ScheduledProcedureStepStatus == "SCHEDULED"


def test_it_warns_when_an_optional_key_cannot_be_matched(port):
    make_step(sps_id="W", start=at(8))
    answers = find(port, identifier({"PatientAddress": "MAIN STREET"}))
    assert [status for status, _, _ in answers] == [0xFF01, 0x0000]
    assert "PatientAddress" in logged().error_comment


@pytest.mark.slow
def test_it_stops_on_cancel(port, settings):
    make_many_steps(settings)
    statuses = find_in_other_process(port, "cancel")
    assert statuses[-1] == 0xFE00
    assert statuses.count(0xFF00) < MANY  # the stream stopped before the end
    assert logged().status == 0xFE00


@pytest.mark.slow
def test_it_logs_an_answer_the_modality_abandoned(port, settings):
    make_many_steps(settings)
    assert find_in_other_process(port, "abort") == [0xFF00]
    row = logged()
    assert row.status == 0xFF00 and "left after" in row.error_comment
    assert row.match_count < MANY


@pytest.mark.parametrize("top, sps, offending", [
    ({}, {"ScheduledProcedureStepStartDate": "2026-13-45"}, 0x00400002),
    ({}, {"ScheduledProcedureStepStartTime": "25xx"}, 0x00400003),
    ({"PatientBirthDate": "19700101-19600101"}, {}, 0x00100030),
])
def test_it_refuses_malformed_matching_values(port, top, sps, offending):
    answers = find(port, identifier(top, sps))
    assert len(answers) == 1
    status, ds, status_ds = answers[0]
    assert status == 0xA900 and ds is None
    assert status_ds.ErrorComment
    assert status_ds.OffendingElement == offending
    assert logged().status == 0xA900


def test_it_refuses_two_items_in_the_step_sequence(port):
    query = identifier()
    query.ScheduledProcedureStepSequence.append(Dataset())
    status, _, status_ds = find(port, query)[0]
    assert status == 0xA900
    assert status_ds.ErrorComment == "ScheduledProcedureStepSequence: one item only in a query, got 2"


def test_it_logs_every_query_for_staff(port):
    make_step(sps_id="LOG", start=at(8))
    find(port, identifier(sps={"ScheduledStationAETitle": "CT01"}), calling_ae="SCANNER7")
    row = logged()
    assert (row.calling_ae, row.match_count, row.status) == ("SCANNER7", 1, 0)
    assert "ScheduledProcedureStepSequence>ScheduledStationAETitle=CT01" in row.keys_summary
    assert row.peer.startswith("127.0.0.1:")
    assert Dataset.from_json(row.identifier).ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CT01"
    assert row.duration_ms > 0


def test_it_refuses_an_ae_not_allowed_to_query(port):
    RemoteAE.objects.create(ae_title="ECHOONLY", allowed_services=["echo"])
    status, _, status_ds = find(port, identifier(), calling_ae="ECHOONLY")[0]
    assert status == 0x0124
    assert "ECHOONLY" in status_ds.ErrorComment


def logged() -> WorklistQuery:
    """The one query log row (written just after the answer, so wait for it)."""
    return wait_until(lambda: WorklistQuery.objects.first())


def test_it_sends_a_large_answer_page_by_page_in_the_order_of_one_query(port, settings):
    from worklist.models import ScheduledProcedureStep
    from worklist.mwl import query

    settings.BROKER_MWL_MAX_RESULTS = 1000
    procedure = make_procedure()
    # 3 pages and a bit, with times out of insertion order so that the order is the query's, not the ids'.
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"P{n:03d}", modality="CT", station_ae_title="CT01",
                               start=at(8 + (n * 7) % 9, n % 60)) for n in range(query.PAGE * 3 + 7))
    ask = identifier(sps={"ScheduledStationAETitle": "CT01"})
    plan = query.build_plan(ask)
    one_query = list(query.matching_steps(plan).values_list("sps_id", flat=True))

    answers = find(port, ask)

    sent = [ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID for ds in matches(answers)]
    assert sent == one_query and len(sent) == query.PAGE * 3 + 7
    assert final_status(answers) == 0x0000


@pytest.mark.django_db
def test_it_leaves_out_a_step_that_stopped_matching_between_pages(settings):
    from worklist.models import ScheduledProcedureStep
    from worklist.mwl import query

    settings.BROKER_MWL_MAX_RESULTS = 1000
    procedure = make_procedure()
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"Q{n:03d}", modality="CT", station_ae_title="CT01",
                               start=at(9, n % 60)) for n in range(query.PAGE + 10))
    result = query.run_query(identifier(sps={"ScheduledStationAETitle": "CT01"}))
    assert (len(result.first_page), len(result.later_ids), result.truncated) == (query.PAGE, 10, False)

    moved = ScheduledProcedureStep.objects.get(pk=result.later_ids[3])
    moved.station_ae_title = "CT02"  # rescheduled to another scanner after the query, before its page was sent
    moved.save()
    [page] = list(result.later_pages())
    loaded = query.load_page(result, page)
    assert [step.pk for step in loaded] == [pk for pk in result.later_ids if pk != moved.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("limit, matching, expected", [(30, 29, (29, 0, False)), (30, 31, (30, 0, True)),
                                                        (120, 120, (50, 70, False)), (120, 121, (50, 70, True))])
def test_it_caps_a_paged_answer_at_the_result_limit(settings, limit, matching, expected):
    from worklist.models import ScheduledProcedureStep
    from worklist.mwl import query

    settings.BROKER_MWL_MAX_RESULTS = limit
    procedure = make_procedure()
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"R{n:03d}", modality="CT", station_ae_title="CT01",
                               start=at(10)) for n in range(matching))
    result = query.run_query(identifier(sps={"ScheduledStationAETitle": "CT01"}))
    assert (len(result.first_page), len(result.later_ids), result.truncated) == expected


@pytest.mark.django_db
def test_it_keeps_the_scope_on_every_page_of_a_large_answer(settings):
    from worklist.models import ScheduledProcedureStep
    from worklist.mwl import query
    from worklist.mwl.scope import Scope

    settings.BROKER_MWL_MAX_RESULTS = 1000
    procedure = make_procedure()
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"S{n:03d}", modality="CT",
                               station_ae_title="CT01" if n % 2 else "CT02", start=at(11, n % 60))
        for n in range(query.PAGE * 2 + 20))
    result = query.run_query(identifier(), scope=Scope.of(["CT01"], source="remote AE CT01"))
    later = [step for page in result.later_pages() for step in query.load_page(result, page)]
    stations = {step.station_ae_title for step in result.first_page + later}
    assert stations == {"CT01"} and len(result.first_page) + len(later) == query.PAGE + 10
    assert result.hidden == query.PAGE + 10
