"""Per remote AE access control: allowed services for every service, the called AE title, host binding,
concurrency caps, refusals counted in one row per AE, and the admin's "approve" action.

Refusal of a service is answered per request (0x0124 "Refused: not authorized", PS3.7 C.5, with an Error
Comment), not at negotiation: the modality's log then names the refused service instead of a bare
"no acceptable presentation context".
"""
import subprocess

import pytest
from django.contrib.auth.models import User
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, ModalityWorklistInformationFind, Verification

from broker.dicom import listener as dicom_listener
from broker.dicom.models import RemoteAE
from broker.routing.models import StoredInstance
from mpps.models import PerformedProcedureStep
from tests.mpps.support import Modality, n_create_dataset, n_set_dataset, unscheduled_ssa_item
from tests.mwl.support import echo
from tests.routing.support import make_image
from tests.waiting import wait_until


def associate(port: int, calling_ae: str = "CT01", called_ae: str = "BROKER", contexts=(Verification,)):
    ae = AE(ae_title=calling_ae)
    for context in contexts:
        ae.add_requested_context(context)
    return ae.associate("127.0.0.1", port, ae_title=called_ae)


def rejection(assoc) -> tuple[int, int, int]:
    assert assoc.is_rejected
    rsp = assoc.acceptor.primitive
    return rsp.result, rsp.result_source, rsp.diagnostic


# --- allowed services -----------------------------------------------------------------------------------




def test_it_refuses_mpps_to_an_ae_allowed_only_verification(echo_only):
    with Modality(echo_only, ae_title="ECHOONLY") as modality:
        status, uid = modality.create(n_create_dataset())
    assert status.Status == 0x0124
    assert status.ErrorComment == "AE ECHOONLY is not allowed the mpps service"
    assert not PerformedProcedureStep.objects.filter(sop_instance_uid=uid).exists()


def test_it_refuses_storage_to_an_ae_allowed_only_verification(echo_only, tmp_path):
    path = make_image(tmp_path / "ct.dcm", study_uid=generate_uid(), series_uid=generate_uid())
    assoc = associate(echo_only, "ECHOONLY", contexts=(CTImageStorage,))
    try:
        status = assoc.send_c_store(dcmread(path))
    finally:
        assoc.release()
    assert status.Status == 0x0124
    assert status.ErrorComment == "AE ECHOONLY is not allowed the store service"
    assert not StoredInstance.objects.exists()


def test_it_refuses_worklist_queries_to_an_ae_allowed_only_verification(echo_only):
    assoc = associate(echo_only, "ECHOONLY", contexts=(ModalityWorklistInformationFind,))
    query = Dataset()
    query.PatientName = ""
    try:
        statuses = [status.Status for status, _ in assoc.send_c_find(query, ModalityWorklistInformationFind)]
    finally:
        assoc.release()
    assert statuses == [0x0124]


def test_it_answers_echo_to_the_ae_allowed_verification(echo_only):
    assert echo(echo_only, calling_ae="ECHOONLY") == 0x0000


def test_it_refuses_echo_with_an_error_comment(port):
    RemoteAE.objects.create(ae_title="MWLONLY", allowed_services=["mwl"])
    assoc = associate(port, "MWLONLY")
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    assert (status.Status, status.ErrorComment) == (0x0124, "AE MWLONLY is not allowed the echo service")


def test_it_refuses_an_n_set_on_another_aes_mpps(port):
    with Modality(port, ae_title="CT01") as creator:
        created, uid = creator.create(n_create_dataset(ssa_items=[unscheduled_ssa_item()]))
    assert created.Status == 0x0000
    with Modality(port, ae_title="INTRUDER") as other:
        status = other.set(uid, n_set_dataset("DISCONTINUED"))
    assert status.Status == 0x0110
    assert status.ErrorComment == "MPPS belongs to AE CT01; INTRUDER may not update it"
    assert PerformedProcedureStep.objects.get(sop_instance_uid=uid).status == "IN PROGRESS"


def test_it_accepts_an_n_set_from_another_ae_when_the_site_allows_it(port, settings):
    settings.BROKER_MPPS_ALLOW_OTHER_AE_SET = True
    with Modality(port, ae_title="CT01") as creator:
        _, uid = creator.create(n_create_dataset(ssa_items=[unscheduled_ssa_item()]))
    with Modality(port, ae_title="CT02") as other:
        assert other.set(uid, n_set_dataset("DISCONTINUED")).Status == 0x0000


# --- called AE title ------------------------------------------------------------------------------------


def test_it_rejects_a_wrong_called_ae_title(port):
    assert rejection(associate(port, called_ae="ANYTHING")) == (0x01, 0x01, 0x07)


def test_it_rejects_a_wrong_called_ae_title_from_echoscu(port, dcmtk):
    done = subprocess.run(["echoscu", "-aet", "CT01", "-aec", "WRONG", "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "Called AE Title Not Recognized" in done.stderr + done.stdout


def test_it_accepts_a_configured_alias_of_the_called_ae_title(port, settings):
    settings.BROKER_DICOM_CALLED_AE_ALIASES = ["OLDBROKER"]
    assoc = associate(port, called_ae="OLDBROKER")
    assert assoc.is_established
    assoc.release()


def test_it_accepts_any_called_ae_title_when_the_site_says_so(port, settings):
    settings.BROKER_DICOM_ACCEPT_ANY_CALLED_AE = True
    assoc = associate(port, called_ae="ANY-SCP")
    assert assoc.is_established
    assoc.release()


# --- host binding and caps ------------------------------------------------------------------------------


def test_it_rejects_a_bound_ae_calling_from_another_network(port):
    RemoteAE.objects.create(ae_title="CT01", host_binding="10.20.0.0/16")
    assert rejection(associate(port, "CT01")) == (0x01, 0x01, 0x03)
    wait_until(lambda: RemoteAE.objects.get(ae_title="CT01").refused_count == 1)
    assert RemoteAE.objects.get(ae_title="CT01").last_refused_address == "127.0.0.1"


def test_it_accepts_a_bound_ae_from_its_network(port):
    RemoteAE.objects.create(ae_title="CT01", host_binding="127.0.0.0/8")
    assert echo(port, calling_ae="CT01") == 0x0000


@pytest.mark.parametrize("cap", ["BROKER_DICOM_MAX_ASSOCIATIONS_PER_AE", "BROKER_DICOM_MAX_ASSOCIATIONS_PER_ADDRESS"])
def test_it_rejects_associations_over_a_cap_as_transient(port, settings, cap):
    setattr(settings, cap, 2)
    open_ones = [associate(port, "CT01" if cap.endswith("_AE") else f"CT0{n}") for n in range(2)]
    try:
        assert all(assoc.is_established for assoc in open_ones)
        assert rejection(associate(port, "CT01" if cap.endswith("_AE") else "CT09")) == (0x02, 0x03, 0x02)
    finally:
        for assoc in open_ones:
            assoc.release()
    assert echo(port, calling_ae="CT01") == 0x0000  # a slot again once one is released


# --- refusals counted, registry bounded, approval -------------------------------------------------------


@pytest.mark.slow
def test_it_counts_refusals_of_an_unknown_ae_in_one_row(port, settings):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    for _ in range(50):
        assert associate(port, "STRANGER").is_rejected
    wait_until(lambda: RemoteAE.objects.get(ae_title="STRANGER").refused_count == 50)
    assert RemoteAE.objects.count() == 1


def test_it_records_a_bounded_number_of_unknown_titles(port, settings):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    settings.BROKER_DICOM_MAX_UNKNOWN_AES = 3
    for n in range(8):
        assert associate(port, f"FAKE{n}").is_rejected
    assert RemoteAE.objects.filter(auto_registered=True).count() == 3


def test_it_approves_an_auto_registered_ae_through_the_admin(port, settings, client):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    assert associate(port, "NEWCT").is_rejected
    remote = RemoteAE.objects.get(ae_title="NEWCT")
    client.force_login(User.objects.create_superuser("admin", "admin@example.org", "pw"))
    listing = client.get("/admin/dicom/remoteae/")
    assert listing.status_code == 200 and "NEWCT" in listing.content.decode()
    done = client.post("/admin/dicom/remoteae/", {"action": "approve", "_selected_action": [remote.pk]}, follow=True)
    assert "1 AE(s) approved" in done.content.decode()
    assert not RemoteAE.objects.get(ae_title="NEWCT").auto_registered
    dicom_listener.registry.clear_cache()  # the listener re-reads the row within CACHE_SECONDS anyway
    assert echo(port, calling_ae="NEWCT") == 0x0000
