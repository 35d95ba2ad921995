"""The admin's configuration forms: what the command line refuses is refused here too, with the field's error,
every field has a human label and help text, and "Test connection" says in words whether the peer answered."""
import re

import pytest
from django.contrib import admin
from django.urls import reverse
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.dicom.models import RemoteAE
from broker.hl7.models import HL7Sender
from broker.outbound.models import MppsDestination, RisEndpoint
from broker.routing.models import Destination, RoutingRule
from tests.dashboard.support import make_destination, make_user
from tests.mpps.support import RisServer, running
from tests.services import free_port
from worklist.models import StationAssignmentRule

pytestmark = pytest.mark.django_db

CONFIGURATION_MODELS = [Destination, RoutingRule, RisEndpoint, MppsDestination, RemoteAE, HL7Sender,
                        StationAssignmentRule]
# Django's labels made from field names, which the forms must replace: "Ae title", "Tls ca file", "Hl7 ...".
MACHINE_LABEL = re.compile(r"\b(Ae|Tls|Ris|Mpps|Hl7|Msh|Ip|Id)\b")


@pytest.fixture
def administrator(client):
    client.force_login(make_user("administrator"))
    return client


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def errors_of(response) -> dict:
    form = response.context["adminform"].form
    return {name: " ".join(errors) for name, errors in form.errors.items()}


@pytest.mark.parametrize("model", CONFIGURATION_MODELS, ids=lambda model: model.__name__)
def test_it_gives_every_field_a_human_label_and_help_text(rf, model):
    request = rf.get("/")
    request.user = make_user("administrator")
    form = admin.site._registry[model].get_form(request)()
    for name, field in form.fields.items():
        assert field.help_text, f"{model.__name__}.{name} has no help text"
        assert not MACHINE_LABEL.search(str(field.label)), f"{model.__name__}.{name}: label {field.label!r}"
        assert "maxlength" not in field.widget.attrs, f"{model.__name__}.{name} would be cut by the browser"


def test_it_refuses_a_destination_the_command_line_refuses(administrator):
    response = administrator.post(add_url(Destination), {
        "name": "PACS", "ae_title": "PACS_ARCHIVE_MAIN", "host": "pacs.example", "port": "99999",
        "max_associations": "0", "enabled": "on"})
    assert response.status_code == 200
    errors = errors_of(response)
    assert "1 to 16 characters" in errors["ae_title"] and "has 17" in errors["ae_title"]
    assert errors["port"] == "port 99999 is not between 1 and 65535"
    assert "above 0" in errors["max_associations"]
    assert not Destination.objects.exists()


def test_it_refuses_a_broken_rule(administrator):
    pacs = make_destination(name="PACS")
    response = administrator.post(add_url(RoutingRule), {
        "name": "CT", "priority": "100", "enabled": "on", "action": "MOVE", "destinations": [pacs.pk],
        "match_study_description": "(THORAX", "match_modality": "C/T",
        "attribute_changes": "InstitutionNam=City Hospital"})
    errors = errors_of(response)
    assert "not a regular expression" in errors["match_study_description"]
    assert "'InstitutionNam' is not a DICOM keyword" in errors["attribute_changes"]
    assert "DICOM code string" in errors["match_modality"]
    assert "needs the archive" in errors["move_source"]
    assert not RoutingRule.objects.exists()


def test_it_saves_a_rule_with_keyword_lines(administrator):
    pacs = make_destination(name="PACS")
    response = administrator.post(add_url(RoutingRule), {
        "name": "CT", "priority": "100", "enabled": "on", "action": "SEND", "destinations": [pacs.pk],
        "match_modality": "ct, mr", "match_study_description": "^CT (THORAX|CHEST)",
        "attribute_changes": "InstitutionName=City Hospital\nOtherPatientIDs="})
    assert response.status_code == 302, errors_of(response)
    rule = RoutingRule.objects.get()
    assert rule.match_modality == "CT,MR"
    assert rule.attribute_changes == {"InstitutionName": "City Hospital", "OtherPatientIDs": None}
    page = administrator.get(change_url(rule)).content.decode()
    assert "InstitutionName=City Hospital\nOtherPatientIDs=" in page


def test_it_refuses_a_remote_ae_in_latin1_and_offers_services_as_checkboxes(administrator):
    page = administrator.get(add_url(RemoteAE)).content.decode()
    assert page.count('type="checkbox" name="allowed_services"') == 5
    response = administrator.post(add_url(RemoteAE), {
        "ae_title": "CT01", "port": "104", "character_set": "latin1", "allowed_services": ["worklist"],
        "worklist_stations": "CT01, CT0123456789ABCDEF", "worklist_modalities": "CT", "host_binding": "10.1.2"})
    errors = errors_of(response)
    assert "'latin1' is not a DICOM character set" in errors["character_set"]
    assert "ISO_IR 100" in errors["character_set"] and "ISO_IR 192" in errors["character_set"]
    assert "worklist is not one of the available choices" in errors["allowed_services"]
    assert "has 18" in errors["worklist_stations"]
    assert "is not an address" in errors["host_binding"]
    assert not RemoteAE.objects.exists()


def test_it_saves_a_remote_ae_from_checkboxes_and_lists(administrator):
    response = administrator.post(add_url(RemoteAE), {
        "ae_title": "CT01", "host": "10.0.0.21", "port": "104", "character_set": "ISO_IR 100",
        "allowed_services": ["mwl", "mpps"], "worklist_stations": "CT01, CT02", "worklist_modalities": "ct"})
    assert response.status_code == 302, errors_of(response)
    remote = RemoteAE.objects.get()
    assert (remote.allowed_services, remote.worklist_stations, remote.worklist_modalities) == (
        ["mwl", "mpps"], ["CT01", "CT02"], ["CT"])
    page = administrator.get(change_url(remote)).content.decode()
    assert 'value="CT01, CT02"' in page
    ticked = re.findall(r'<input type="checkbox" name="allowed_services" value="(\w+)"[^>]*checked', page)
    assert ticked == ["mwl", "mpps"]


def test_it_refuses_a_station_rule_with_a_long_station(administrator):
    response = administrator.post(add_url(StationAssignmentRule), {
        "priority": "100", "enabled": "on", "match_modality": "CT", "station_ae_titles": "CT01,CT_ROOM_NUMBER_TWO"})
    assert "has 18" in errors_of(response)["station_ae_titles"]


def test_it_refuses_a_ris_port_and_an_mpps_ae_title(administrator):
    response = administrator.post(add_url(RisEndpoint), {"name": "RIS", "host": "ris", "port": "0", "enabled": "on",
                                                         "message_format": "AUTO", "timeout_seconds": "10"})
    assert errors_of(response)["port"] == "port 0 is not between 1 and 65535"
    response = administrator.post(add_url(MppsDestination), {"name": "DOSE", "ae_title": "DOSE\\MON", "host": "d",
                                                             "port": "104", "enabled": "on"})
    assert "without a backslash" in errors_of(response)["ae_title"]


@pytest.fixture
def echo_scp():
    ae = AE(ae_title="PACS")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    yield server.server_address[1]
    server.shutdown()


def test_connection(client, obj) -> str:
    response = client.post(change_url(obj).replace("/change/", "/test-connection/"), follow=True)
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


test_connection.__test__ = False  # a helper, not a test


def test_it_echoes_a_live_destination_and_names_a_dead_one(administrator, echo_scp):
    live = make_destination(name="Main PACS", ae_title="PACS", host="127.0.0.1", port=echo_scp)
    dead_port = free_port()
    dead = make_destination(name="Old PACS", ae_title="OLD", host="127.0.0.1", port=dead_port)
    said = test_connection(administrator, live)
    assert re.fullmatch(rf"Test connection: the destination Main PACS \(PACS\) at 127\.0\.0\.1:{echo_scp} answered "
                        r"the C-ECHO with Success in \d+ ms\.", said), said
    said = test_connection(administrator, dead)
    assert said == (f"Test connection: the destination Old PACS (OLD) at 127.0.0.1:{dead_port} refused the "
                    f"connection (nothing listens on that port).")


def test_it_echoes_an_mpps_destination_and_a_remote_ae(administrator, echo_scp):
    mpps = MppsDestination.objects.create(name="DOSE", ae_title="DOSE", host="127.0.0.1", port=echo_scp)
    assert "answered the C-ECHO with Success" in test_connection(administrator, mpps)
    remote = RemoteAE.objects.create(ae_title="CT01", host="127.0.0.1", port=echo_scp)
    assert "the AE CT01 at 127.0.0.1" in test_connection(administrator, remote)
    unknown = RemoteAE.objects.create(ae_title="US01")
    assert test_connection(administrator, unknown) == (
        "Test connection: the AE US01 has no host and port set, so the broker cannot call it.")


def test_it_tells_a_dicom_peer_that_is_not_dicom(administrator, tcp_listener):
    port = tcp_listener()  # accepts and closes: an MLLP port typed into a DICOM destination
    destination = make_destination(name="PACS", ae_title="PACS", host="127.0.0.1", port=port)
    assert "did not set up a DICOM association" in test_connection(administrator, destination)


def test_it_makes_an_mllp_round_trip_to_the_ris(administrator):
    with running(RisServer()) as ris:
        endpoint = RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port, receiving_application="RIS")
        said = test_connection(administrator, endpoint)
        assert re.fullmatch(rf"Test connection: the RIS at 127\.0\.0\.1:{ris.port} answered the test message with AA "
                            r"in \d+ ms\.", said), said
        assert ris.received[0].startswith("MSH|^~\\&|BROKER|RADIOLOGY|RIS||")
        assert "|NMQ^N01^NMQ_N01|TEST-" in ris.received[0]
        ris.answer = "AR"
        assert "answered the test message with AR" in test_connection(administrator, endpoint)
        ris.answer = None  # listens, never answers
        endpoint.timeout_seconds = 0.5
        endpoint.save()
        assert test_connection(administrator, endpoint) == (
            f"Test connection: the RIS at 127.0.0.1:{ris.port} did not answer within 0.5 s.")


def test_it_says_the_ris_refused_the_connection(administrator):
    port = free_port()
    endpoint = RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=port)
    assert test_connection(administrator, endpoint) == (
        f"Test connection: the RIS at 127.0.0.1:{port} refused the connection (nothing listens on that port).")


def test_it_tests_only_on_a_post(client):
    client.force_login(make_user("viewer"))
    endpoint = RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=free_port())
    response = client.get(change_url(endpoint).replace("/change/", "/test-connection/"))
    assert response.status_code == 405
