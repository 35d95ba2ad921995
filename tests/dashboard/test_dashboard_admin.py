"""The Django admin: every model visible to staff, configuration for administrators only, protocol data read-only."""
import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from broker.hl7.models import HL7Message
from broker.routing.models import Destination
from tests.dashboard.support import (
    make_hl7_message,
    make_job,
    make_query,
    make_user,
    scheduled_order,
)
from tests.factories import make_patient

pytestmark = pytest.mark.django_db

WORKFLOW_APPS = ("worklist", "mpps", "hl7", "dicom", "outbound", "routing")
WORKFLOW_MODELS = [model for label in WORKFLOW_APPS for model in apps.get_app_config(label).get_models()]
PROTOCOL_OWNED = ["hl7message", "worklistquery", "performedprocedurestep", "performedseries", "study", "storedinstance",
                  "routingjob", "deliveredinstance", "risnotification", "mppsforward", "mppsrequest", "rejectedinstance"]


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_it_registers_every_model_of_the_workflow():
    missing = [model.__name__ for model in WORKFLOW_MODELS if model not in admin.site._registry]
    assert missing == []




@pytest.mark.parametrize("model", WORKFLOW_MODELS, ids=lambda model: model.__name__)
def test_it_shows_every_changelist_to_a_viewer(client, rows, model):
    client.force_login(make_user("viewer"))
    assert client.get(changelist(model)).status_code == 200


@pytest.mark.parametrize("model", WORKFLOW_MODELS, ids=lambda model: model.__name__)
def test_it_opens_every_record_for_an_administrator(client, rows, model):
    client.force_login(make_user("administrator"))
    obj = model.objects.first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    assert client.get(url).status_code == 200


def test_it_sends_anonymous_visitors_of_the_admin_to_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/admin/"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_it_refuses_configuration_to_viewers_and_operators(client, role):
    client.force_login(make_user(role))
    assert client.get(reverse("admin:routing_destination_add")).status_code == 403
    response = client.post(reverse("admin:routing_destination_add"), {"name": "PACS", "ae_title": "PACS", "host": "10.0.0.5",
                                                                       "port": "104", "max_associations": "1"})
    assert response.status_code == 403
    assert Destination.objects.count() == 0


def test_it_lets_an_administrator_add_a_destination(client):
    client.force_login(make_user("administrator"))
    response = client.post(reverse("admin:routing_destination_add"), {
        "name": "Main PACS", "ae_title": "PACS", "host": "10.0.0.5", "port": "104", "max_associations": "2", "enabled": "on",
    })
    assert response.status_code == 302
    destination = Destination.objects.get()
    assert (destination.ae_title, destination.port, destination.max_associations) == ("PACS", 104, 2)


@pytest.mark.parametrize("model", ["remoteae", "hl7sender", "destination", "routingrule", "risendpoint", "mppsdestination",
                                   "stationassignmentrule"])
def test_it_lets_an_administrator_add_each_kind_of_configuration(client, model):
    app_label = next(m._meta.app_label for m in WORKFLOW_MODELS if m._meta.model_name == model)
    client.force_login(make_user("administrator"))
    assert client.get(reverse(f"admin:{app_label}_{model}_add")).status_code == 200


@pytest.mark.parametrize("model_name", PROTOCOL_OWNED)
def test_it_lets_nobody_add_what_a_protocol_writes(client, model_name):
    user = make_user("administrator", is_superuser=True)
    client.force_login(user)
    model = next(m for m in WORKFLOW_MODELS if m._meta.model_name == model_name)
    assert client.get(reverse(f"admin:{model._meta.app_label}_{model_name}_add")).status_code == 403


def test_it_keeps_the_hl7_log_read_only_and_readable(client):
    message = make_hl7_message("AR", control_id="CTRL9")
    client.force_login(make_user("administrator", is_superuser=True))
    url = reverse("admin:hl7_hl7message_change", args=[message.pk])
    html = client.get(url).content.decode()
    assert '<span class="seg">PID</span>|1||PID0001' in html and '<span class="seg">MSA</span>|AR|CTRL9' in html
    assert 'name="control_id"' not in html  # no input fields: nothing to edit
    assert client.post(url, {"control_id": "EDITED"}).status_code == 403
    assert client.post(reverse("admin:hl7_hl7message_delete", args=[message.pk]), {"post": "yes"}).status_code == 403
    assert HL7Message.objects.get(pk=message.pk).control_id == "CTRL9"


def test_it_lets_an_administrator_move_a_step_to_another_station_but_not_change_its_status(client):
    _, step = scheduled_order(station="CT01")
    client.force_login(make_user("administrator"))
    url = reverse("admin:worklist_scheduledprocedurestep_change", args=[step.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {key: ("" if value is None else value) for key, value in data.items()}
    data.update({"station_ae_title": "CT02", "status": "COMPLETED", "protocol_codes": "[]",
                 "start_0": step.start.strftime("%Y-%m-%d"), "start_1": step.start.strftime("%H:%M:%S")})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    step.refresh_from_db()
    assert (step.station_ae_title, step.status) == ("CT02", "SCHEDULED")


@pytest.mark.parametrize("changelist, row_of", [
    ("admin:worklist_patient_changelist", lambda order, step: order.patient.pk),
    ("admin:worklist_imagingorder_changelist", lambda order, step: order.pk),
    ("admin:worklist_scheduledprocedurestep_changelist", lambda order, step: step.pk),
])
def test_it_finds_rows_by_a_patient_name_typed_without_accents(client, changelist, row_of):
    wanted = row_of(*scheduled_order(patient=make_patient(name="MÜLLER^JÜRGEN")))
    scheduled_order()
    client.force_login(make_user("viewer"))
    response = client.get(reverse(changelist), {"q": "muller"})
    assert [row.pk for row in response.context["cl"].result_list] == [wanted]


def test_it_shows_the_routing_actions_to_operators_only(client):
    make_job()
    client.force_login(make_user("viewer"))
    assert b'value="retry"' not in client.get(reverse("admin:routing_routingjob_changelist")).content
    client.force_login(make_user("operator"))
    assert b'value="retry"' in client.get(reverse("admin:routing_routingjob_changelist")).content


def test_it_shows_the_worklist_query_identifier_readably(client):
    query = make_query(calling_ae="MR03")
    client.force_login(make_user("viewer"))
    html = client.get(reverse("admin:dicom_worklistquery_change", args=[query.pk])).content.decode()
    assert "ScheduledStationAETitle" in html and "MR03" in html


def test_it_names_the_models_readably_on_the_admin_index(client):
    client.force_login(make_user("viewer"))
    html = client.get("/admin/").content.decode()
    for label in ("HL7 messages", "Remote AEs", "Worklist queries", "RIS notifications", "MPPS forwards"):
        assert f">{label}<" in html
    assert "H l7" not in html


def test_it_filters_steps_by_station_and_modality_in_the_admin(client):
    _, ct = scheduled_order(station="CT01")
    _, mr = scheduled_order(station="MR01")
    mr.modality = "MR"
    mr.save()
    client.force_login(make_user("viewer"))
    url = reverse("admin:worklist_scheduledprocedurestep_changelist")
    assert [step.pk for step in client.get(url, {"station_ae_title": "MR01"}).context["cl"].result_list] == [mr.pk]
    assert [step.pk for step in client.get(url, {"modality": "CT"}).context["cl"].result_list] == [ct.pk]
