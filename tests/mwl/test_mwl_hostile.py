"""Hostile worklist queries over real associations: they answer within their budget and never hold the listener."""
import statistics
import threading
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.dicom.models import WorklistQuery
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, final_status, find, identifier, matches, wait_until
from worklist.models import ScheduledProcedureStep

HOSTILE_16 = "*?*?*?*?*?*?*?*#"  # 22.8 s against one 60-character name with the old regex engine
HOSTILE_24 = "*?" * 11 + "*#"
LONG_NAME = "ABCDEFGHIJ" * 6  # 60 characters, no "#"




def steps_for_one_long_name(count: int, name: str = LONG_NAME) -> None:
    procedure = make_procedure(make_order(make_patient(name=name)))
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"H{n}", modality="CT", station_ae_title="CT01",
                               start=at(8)) for n in range(count))


@pytest.mark.parametrize("pattern", [HOSTILE_16, HOSTILE_24])
def test_it_answers_the_hostile_name_query_within_its_budget(port, settings, pattern):
    make_step(make_procedure(make_order(make_patient(name=LONG_NAME))), sps_id="LONG", start=at(9))
    make_step(make_procedure(make_order(make_patient(name=LONG_NAME[:-1] + "#"))), sps_id="HASH", start=at(9))
    started = time.perf_counter()
    answers = find(port, identifier({"PatientName": pattern}))
    elapsed = time.perf_counter() - started
    assert [ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID for ds in matches(answers)] == ["HASH"]
    assert final_status(answers) == 0x0000
    assert elapsed < settings.BROKER_MWL_QUERY_BUDGET_SECONDS


def test_it_answers_a_c_echo_within_100_ms_while_hostile_queries_run(port, settings):
    settings.BROKER_MWL_MAX_RESULTS = 5000
    steps_for_one_long_name(3000)
    stop = threading.Event()
    hostile_statuses = []

    def hostile():
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline and len(hostile_statuses) < 200:
            hostile_statuses.append(final_status(find(port, identifier({"PatientName": HOSTILE_24}), calling_ae="BAD")))

    attacker = threading.Thread(target=hostile, daemon=True)
    attacker.start()
    ae = AE(ae_title="CT02")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    latencies = []
    try:
        wait_until(lambda: hostile_statuses or WorklistQuery.objects.exists() or attacker.is_alive(), timeout=10)
        for _ in range(30):
            started = time.perf_counter()
            assert assoc.send_c_echo().Status == 0x0000
            latencies.append(time.perf_counter() - started)
    finally:
        stop.set()
        assoc.release()
        attacker.join(timeout=60)
    assert hostile_statuses and set(hostile_statuses) == {0x0000}
    assert statistics.median(latencies) < 0.100, latencies


def test_it_answers_a_query_over_its_budget_with_unable_to_process(port, settings):
    settings.BROKER_MWL_MAX_RESULTS = 20000
    settings.BROKER_MWL_QUERY_BUDGET_SECONDS = 0.0001
    steps_for_one_long_name(5000)
    [(status, ds, status_ds)] = find(port, identifier({"PatientName": "*J*"}))
    assert ds is None
    assert status == 0xC000
    assert "budget" in status_ds.ErrorComment and "narrow" in status_ds.ErrorComment
    row = wait_until(lambda: WorklistQuery.objects.filter(status=0xC000).first())
    assert "budget" in row.error_comment


def test_it_keeps_answering_after_a_query_over_its_budget(port, settings):
    settings.BROKER_MWL_MAX_RESULTS = 20000
    settings.BROKER_MWL_QUERY_BUDGET_SECONDS = 0.0001
    steps_for_one_long_name(5000)
    assert final_status(find(port, identifier({"PatientName": "*J*"}))) == 0xC000
    settings.BROKER_MWL_QUERY_BUDGET_SECONDS = 30
    settings.BROKER_MWL_MAX_RESULTS = 10
    answers = find(port, identifier({"PatientName": "*J*"}))
    assert final_status(answers) == 0x0000 and len(matches(answers)) == 10
