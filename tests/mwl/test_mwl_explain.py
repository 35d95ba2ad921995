"""explain_exclusion(): the sentence staff read when a scanner does not see a step."""
import pytest
from pydicom import Dataset

from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, da, identifier
from worklist.mwl.explain import explain_exclusion


@pytest.mark.django_db
def test_it_says_nothing_when_the_step_matches():
    step = make_step(station_ae_title="CT01", start=at(10))
    assert explain_exclusion(identifier(sps={"ScheduledStationAETitle": "CT01"}), step) == []


@pytest.mark.django_db
def test_it_names_the_station_that_excludes_a_step():
    step = make_step(station_ae_title="CT01", start=at(10))
    assert explain_exclusion(identifier(sps={"ScheduledStationAETitle": "CT02"}), step) == [
        "Scheduled Station AE Title: the query asked for 'CT02'; this step has 'CT01'."]


@pytest.mark.django_db
def test_it_names_the_default_date_window():
    step = make_step(start=at(10, days=1))
    [reason] = explain_exclusion(identifier(), step)
    assert reason.startswith("Scheduled Procedure Step Start Date/Time: the step is outside the broker's default")
    assert "default window of 1 day(s)" in reason


@pytest.mark.django_db
def test_it_names_every_key_that_excludes():
    step = make_step(make_procedure(make_order(make_patient(name="SMITH^ANNA"))), modality="CT", start=at(10),
                     status="STARTED")
    reasons = explain_exclusion(identifier({"PatientName": "JONES*"}, {"Modality": "MR",
                                                                       "ScheduledProcedureStepStartDate": da()}), step)
    assert [r.split(":")[0] for r in reasons] == ["Patient's Name", "Modality", "Scheduled Procedure Step Status"]


@pytest.mark.django_db
def test_it_reports_an_invalid_query():
    step = make_step(start=at(10))
    query = Dataset()
    query.PatientBirthDate = "1970-01-01"
    assert explain_exclusion(query, step) == [
        "The query itself is invalid: PatientBirthDate: '1970-01-01' is not a date range (YYYYMMDD-YYYYMMDD)"]
