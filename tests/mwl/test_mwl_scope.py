"""Who may see what on the worklist (issue 9): a remote AE's worklist scope and BROKER_MWL_UNKNOWN_AE_SCOPE,
through real C-FIND associations (pynetdicom and DCMTK findscu), the query log, the admin and the explain page.
"""
import pytest
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.core.env import ConfigurationError, env_choice
from broker.dicom import registry
from broker.dicom.models import RemoteAE, WorklistQuery
from tests.dashboard.support import make_user
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.mwl.support import at, find, identifier, matches, wait_until
from tests.mwl.test_mwl_dcmtk import findscu
from worklist.mwl.explain import explain_exclusion
from worklist.mwl.scope import ALL, Scope

SPS = "ScheduledProcedureStepSequence"


@pytest.fixture(autouse=True)
def fresh_registry():
    """The listener caches registry rows for a few seconds: each test starts and ends with none cached."""
    registry.clear_cache()
    yield
    registry.clear_cache()


@pytest.fixture
def schedule():
    """Today: two CT steps on CT01, one CT step on CT02, one MR step on MR01."""
    def step(sps_id, station, modality, accession, name):
        order = make_order(make_patient(name=name, patient_id=f"P{sps_id}"), accession_number=accession)
        return make_step(make_procedure(order), sps_id=sps_id, station_ae_title=station, modality=modality, start=at(10))
    return {"CT01-A": step("CT01A", "CT01", "CT", "ACC-CT01A", "ONE^ANNA"),
            "CT01-B": step("CT01B", "CT01", "CT", "ACC-CT01B", "TWO^BEN"),
            "CT02": step("CT02A", "CT02", "CT", "ACC-CT02A", "THREE^CARL"),
            "MR01": step("MR01A", "MR01", "MR", "ACC-MR01A", "FOUR^DORA")}


def sps_ids(answers) -> list[str]:
    return sorted(ds[SPS][0].ScheduledProcedureStepID for ds in matches(answers))


def logged(calling_ae: str) -> WorklistQuery:
    wait_until(lambda: WorklistQuery.objects.filter(calling_ae=calling_ae).exists(), timeout=10)
    return WorklistQuery.objects.get(calling_ae=calling_ae)


# --- a registered AE's scope -----------------------------------------------------------------------------------------

def test_an_ae_limited_to_ct01_sees_only_ct01_although_it_asks_for_all(port, schedule):
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    answers = find(port, identifier(), calling_ae="CTSCOPE")
    assert answers[-1][0] == 0x0000
    assert sps_ids(answers) == ["CT01A", "CT01B"]
    row = logged("CTSCOPE")
    assert (row.match_count, row.hidden_by_scope) == (2, 2)
    assert row.scope == {"stations": ["CT01"], "modalities": [], "nothing": False, "source": "remote AE CTSCOPE"}
    assert row.error_comment == "scope hid 2 step(s): station AE title CT01 (remote AE CTSCOPE)"


def test_findscu_as_an_ae_limited_to_ct01_gets_only_ct01(port, schedule, dcmtk, tmp_path):
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    responses = findscu(port, tmp_path, calling_ae="CTSCOPE", keys=["PatientName", f"{SPS}[0].ScheduledProcedureStepID",
                                                                     f"{SPS}[0].ScheduledStationAETitle"])
    assert sorted(r[SPS][0].ScheduledProcedureStepID for r in responses) == ["CT01A", "CT01B"]
    assert logged("CTSCOPE").hidden_by_scope == 2


def test_a_modality_scope_keeps_other_modalities_out(port, schedule):
    RemoteAE.objects.create(ae_title="MRVIEW", worklist_modalities=["mr"])
    assert sps_ids(find(port, identifier(), calling_ae="MRVIEW")) == ["MR01A"]
    assert logged("MRVIEW").hidden_by_scope == 3


def test_the_scope_is_anded_with_the_modalitys_own_keys(port, schedule):
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    answers = find(port, identifier(sps={"ScheduledStationAETitle": "CT02"}), calling_ae="CTSCOPE")
    assert answers[-1][0] == 0x0000 and sps_ids(answers) == []
    assert logged("CTSCOPE").hidden_by_scope == 1  # CT02's step matched the key, the scope hid it
    answers = find(port, identifier(top={"PatientName": "TWO*"}), calling_ae="CTSCOPE")
    assert sps_ids(answers) == ["CT01B"]


def test_an_unlimited_ae_is_served_alongside_a_limited_one(port, schedule):
    """Both associations open at once, their C-FINDs interleaved: each gets its own answer."""
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    RemoteAE.objects.create(ae_title="ALLSEE")
    limited, unlimited = AE(ae_title="CTSCOPE"), AE(ae_title="ALLSEE")
    for ae in (limited, unlimited):
        ae.add_requested_context(ModalityWorklistInformationFind)
    a = limited.associate("127.0.0.1", port, ae_title="BROKER")
    b = unlimited.associate("127.0.0.1", port, ae_title="BROKER")
    try:
        assert a.is_established and b.is_established
        seen = {"CTSCOPE": [], "ALLSEE": []}
        for _ in range(2):
            for title, assoc in (("CTSCOPE", a), ("ALLSEE", b)):
                found = [ds[SPS][0].ScheduledProcedureStepID for status, ds in
                         assoc.send_c_find(identifier(), ModalityWorklistInformationFind)
                         if status and status.Status in (0xFF00, 0xFF01)]
                seen[title].append(sorted(found))
    finally:
        a.release()
        b.release()
    assert seen["CTSCOPE"] == [["CT01A", "CT01B"]] * 2
    assert seen["ALLSEE"] == [["CT01A", "CT01B", "CT02A", "MR01A"]] * 2


# --- callers not in the registry -----------------------------------------------------------------------------------

def test_an_unknown_ae_sees_everything_by_default(port, schedule):
    assert sps_ids(find(port, identifier(), calling_ae="NEWBIE")) == ["CT01A", "CT01B", "CT02A", "MR01A"]
    row = logged("NEWBIE")
    assert (row.scope, row.hidden_by_scope, row.error_comment) == (None, 0, "")


def test_an_unknown_ae_with_scope_none_gets_success_and_no_steps(port, schedule, settings):
    settings.BROKER_MWL_UNKNOWN_AE_SCOPE = "none"
    answers = find(port, identifier(), calling_ae="STRANGER")
    assert [status for status, _, _ in answers] == [0x0000]
    row = logged("STRANGER")
    assert (row.status, row.match_count, row.hidden_by_scope) == (0, 0, 4)
    assert row.error_comment == "scope hid 4 step(s): no steps (unknown AE, BROKER_MWL_UNKNOWN_AE_SCOPE=none)"


def test_an_unknown_ae_with_scope_own_station_sees_its_own_steps(port, schedule, settings, dcmtk, tmp_path):
    settings.BROKER_MWL_UNKNOWN_AE_SCOPE = "own-station"
    assert sps_ids(find(port, identifier(), calling_ae="CT02")) == ["CT02A"]
    responses = findscu(port, tmp_path, calling_ae="MR01", keys=[f"{SPS}[0].ScheduledProcedureStepID"])
    assert [r[SPS][0].ScheduledProcedureStepID for r in responses] == ["MR01A"]
    assert logged("CT02").hidden_by_scope == 3


def test_a_known_ae_without_a_scope_still_sees_everything_under_scope_none(port, schedule, settings):
    settings.BROKER_MWL_UNKNOWN_AE_SCOPE = "none"
    RemoteAE.objects.create(ae_title="KNOWN")
    assert sps_ids(find(port, identifier(), calling_ae="KNOWN")) == ["CT01A", "CT01B", "CT02A", "MR01A"]
    assert sps_ids(find(port, identifier(), calling_ae="UNKNOWN")) == []  # asked right after: still none


# --- the admin's one click -----------------------------------------------------------------------------------------

def test_the_admin_action_limits_selected_aes_to_their_own_station(port, schedule, admin_client):
    ct01 = RemoteAE.objects.create(ae_title="CT01")
    mr01 = RemoteAE.objects.create(ae_title="MR01")
    other = RemoteAE.objects.create(ae_title="CT02")
    response = admin_client.post("/admin/dicom/remoteae/", {"action": "limit_to_own_station",
                                                            "_selected_action": [ct01.pk, mr01.pk]}, follow=True)
    assert "2 AE(s) now see only the steps scheduled on their own station AE title" in response.content.decode()
    assert [RemoteAE.objects.get(pk=r.pk).worklist_stations for r in (ct01, mr01, other)] == [["CT01"], ["MR01"], []]
    page = admin_client.get("/admin/dicom/remoteae/").content.decode()
    assert "station AE title CT01" in page
    assert sps_ids(find(port, identifier(), calling_ae="CT01")) == ["CT01A", "CT01B"]
    assert sps_ids(find(port, identifier(), calling_ae="CT02")) == ["CT01A", "CT01B", "CT02A", "MR01A"]


# --- the explain page ----------------------------------------------------------------------------------------------

def test_the_explain_page_says_not_visible_to_this_ae(port, schedule, client):
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    find(port, identifier(), calling_ae="CTSCOPE")
    row = logged("CTSCOPE")
    client.force_login(make_user("viewer"))
    page = client.get(f"/queries/{row.pk}/", {"expected": "ACC-CT02A"}).content.decode()
    assert ("Not visible to this AE (scope: station AE title CT01 (remote AE CTSCOPE)): the step is for station AE "
            "title &#x27;CT02&#x27;, modality &#x27;CT&#x27;.") in page
    assert "2 matching steps not visible to this AE" in page
    page = client.get(f"/queries/{row.pk}/", {"expected": "ACC-CT01A"}).content.decode()
    assert "This step matches every key of the query." in page and "Not visible to this AE (scope" not in page
    listing = client.get("/queries/").content.decode()
    assert "+2 hidden by scope" in listing


@pytest.mark.django_db
def test_explain_names_the_scope_and_the_keys_that_exclude():
    step = make_step(station_ae_title="CT02", modality="CT", start=at(10))
    scope = Scope.of(["CT01"], source="remote AE X")
    assert explain_exclusion(identifier(), step, scope=scope) == [
        "Not visible to this AE (scope: station AE title CT01 (remote AE X)): the step is for station AE title "
        "'CT02', modality 'CT'."]
    assert explain_exclusion(identifier(sps={"Modality": "MR"}), step, scope=scope)[1].startswith("Modality:")
    assert explain_exclusion(identifier(), step, scope=ALL) == []
    assert explain_exclusion(identifier(), step, scope=Scope.none(source="unknown AE")) == [
        "Not visible to this AE (scope: no steps (unknown AE)): the step is for station AE title 'CT02', modality 'CT'."]


@pytest.mark.parametrize("scope, json", [
    (Scope.of(["CT01", "CT01 "], ["ct"], source="s"), {"stations": ["CT01"], "modalities": ["CT"], "nothing": False, "source": "s"}),
    (Scope.none(source="n"), {"stations": [], "modalities": [], "nothing": True, "source": "n"}),
    (ALL, None),
])
def test_a_scope_round_trips_through_the_query_log(scope, json):
    assert scope.as_json() == json
    assert Scope.from_json(json) == (scope if scope.limited else None)


def test_a_bad_unknown_ae_scope_stops_start_up_naming_the_variable(monkeypatch):
    monkeypatch.setenv("BROKER_MWL_UNKNOWN_AE_SCOPE", "some")
    with pytest.raises(ConfigurationError, match="BROKER_MWL_UNKNOWN_AE_SCOPE='some' is not one of all, none, own-station"):
        env_choice("BROKER_MWL_UNKNOWN_AE_SCOPE", "all", ("all", "none", "own-station"))
    monkeypatch.setenv("BROKER_MWL_UNKNOWN_AE_SCOPE", " Own-Station ")
    assert env_choice("BROKER_MWL_UNKNOWN_AE_SCOPE", "all", ("all", "none", "own-station")) == "own-station"


def test_an_identifier_without_return_keys_is_still_scoped(port, schedule):
    RemoteAE.objects.create(ae_title="CTSCOPE", worklist_stations=["CT01"])
    query = Dataset()
    query.PatientName = ""
    query.ScheduledProcedureStepSequence = [Dataset()]
    assert len(matches(find(port, query, calling_ae="CTSCOPE"))) == 2
