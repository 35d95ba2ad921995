"""People's events through their real interfaces: the log-in page, the dashboard's actions and pages, the admin."""
import pytest
from django.urls import reverse

from broker.audit import events, trail
from broker.routing.models import Destination, RoutingJob
from tests.audit.support import coded, events_of, message_of
from tests.dashboard.support import (
    PASSWORD,
    make_hl7_message,
    make_job,
    make_performed_step,
    make_query,
    make_study,
    make_user,
    scheduled_order,
)
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


def test_log_in_failed_log_in_and_log_out_are_recorded(client):
    user = make_user("viewer", username="anna")
    assert client.post("/login/", {"username": "anna", "password": "wrong password"}).status_code == 200
    assert client.post("/login/", {"username": "anna", "password": PASSWORD}).status_code == 302
    assert client.post("/logout/").status_code == 302
    [failed] = events_of(events.LOGIN_FAILED)
    assert (failed.actor_user, failed.outcome, failed.actor_address) == ("anna", 4, "127.0.0.1")
    assert "wrong password" not in str(failed.detail)
    assert [e.actor_user for e in events_of(events.LOGIN) + events_of(events.LOGOUT)] == [user.username] * 2
    for recorded in events_of(events.LOGIN) + events_of(events.LOGOUT) + [failed]:
        assert coded(message_of(recorded), "EventIdentification/EventID")[0] == "110114"
    assert trail.verify().intact


def test_a_dashboard_action_records_who_did_what_to_whose_study(client):
    job = make_job(study=make_study(patient_id="ROUTE-P1"))
    operator = make_user("operator")
    client.force_login(operator)
    client.post(reverse("dashboard:job_retry", args=[job.pk]))
    assert RoutingJob.objects.get(pk=job.pk).state != RoutingJob.State.FAILED
    [event] = events_of(events.DASHBOARD_ACTION)
    assert (event.actor_user, event.patient_ids, event.outcome) == (operator.username, ["ROUTE-P1"], 0)
    assert event.object_refs == [{"type": "routing_job", "id": job.pk}]
    assert event.detail["action_name"] == f"retry routing job #{job.pk}"
    message_of(event)


def test_a_refused_dashboard_action_is_recorded_as_refused(client):
    client.force_login(make_user("operator"))
    client.post(reverse("dashboard:job_retry", args=[999999]))  # a job that is not there: the area refuses
    [event] = events_of(events.DASHBOARD_ACTION)
    assert (event.outcome, event.patient_ids, event.object_refs) == (4, [], [{"type": "routing_job", "id": 999999}])
    assert "does not exist" in event.detail["refusal"]


def test_replaying_an_hl7_message_is_recorded(client):
    rejected = make_hl7_message("AR")
    client.force_login(make_user("operator"))
    client.post(reverse("dashboard:hl7_replay", args=[rejected.pk]))
    [event] = events_of(events.DASHBOARD_ACTION)
    assert event.detail["action_name"] == f"replay HL7 message #{rejected.pk}" and event.detail["replayed_as"]


@pytest.mark.parametrize("page, kind", [("order", events.VIEW_ORDER), ("hl7", events.VIEW_HL7),
                                        ("query", events.VIEW_QUERY), ("mpps", events.VIEW_MPPS)])
def test_opening_a_page_with_one_patients_data_is_recorded_but_its_refresh_is_not(client, page, kind):
    order, step = scheduled_order(patient=make_patient(patient_id="VIEW-P1"))
    url = {
        "order": lambda: reverse("dashboard:order_detail", args=[order.pk]),
        "hl7": lambda: reverse("dashboard:hl7_detail", args=[make_hl7_message("AA", order=order, patient=order.patient).pk]),
        "query": lambda: reverse("dashboard:query_detail", args=[make_query().pk]) + "?expected=VIEW-P1",
        "mpps": lambda: reverse("dashboard:mpps_detail", args=[make_performed_step([step], reported_patient_id="VIEW-P1").pk]),
    }[page]()
    viewer = make_user("viewer")
    client.force_login(viewer)
    assert client.get(url).status_code == 200
    assert client.get(url, headers={"X-Refresh": "1"}).status_code == 200
    [event] = events_of(kind)
    assert (event.actor_user, event.actor_address) == (viewer.username, "127.0.0.1")
    assert "VIEW-P1" in event.patient_ids
    assert message_of(event).find("EventIdentification").get("EventActionCode") == "R"


def test_an_admin_configuration_change_records_before_and_after(client):
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="10.0.0.5", port=104)
    admin = make_user("administrator")
    client.force_login(admin)
    response = client.post(reverse("admin:routing_destination_change", args=[destination.pk]), {
        "name": "PACS", "ae_title": "PACS2", "host": "10.0.0.5", "port": "11112", "max_associations": "1",
        "enabled": "on"})
    assert response.status_code == 302
    [event] = events_of(events.ADMIN_CONFIGURATION)
    assert event.actor_user == admin.username and event.detail["action"] == "U"
    assert event.detail["before"] == {"ae_title": "PACS", "port": 104}
    assert event.detail["after"] == {"ae_title": "PACS2", "port": 11112}
    assert coded(message_of(event), "EventIdentification/EventTypeCode")[0] == "110131"
    client.post(reverse("admin:routing_destination_delete", args=[destination.pk]), {"post": "yes"})
    deleted = events_of(events.ADMIN_CONFIGURATION)[-1]
    assert deleted.detail["action"] == "D" and deleted.detail["before"]["ae_title"] == "PACS2"
    assert not Destination.objects.exists()


def test_an_admin_correction_of_a_step_names_the_patient(client):
    _, step = scheduled_order(station="CT01", patient=make_patient(patient_id="FIX-P1"))
    client.force_login(make_user("administrator"))
    url = reverse("admin:worklist_scheduledprocedurestep_change", args=[step.pk])
    form = client.get(url).context["adminform"].form
    data = {name: ("" if form[name].value() is None else form[name].value()) for name in form.fields}
    data.update({"station_ae_title": "CT02", "protocol_codes": "[]",
                 "start_0": step.start.strftime("%Y-%m-%d"), "start_1": step.start.strftime("%H:%M:%S")})
    assert client.post(url, data).status_code == 302
    [event] = events_of(events.ADMIN_CORRECTION)
    assert event.patient_ids == ["FIX-P1"]
    assert (event.detail["before"]["station_ae_title"], event.detail["after"]["station_ae_title"]) == ("CT01", "CT02")


def test_an_admin_bulk_action_records_the_rows_it_ran_on(client):
    jobs = [make_job(study=make_study(patient_id=f"BULK-{n}")) for n in range(2)]
    client.force_login(make_user("operator"))
    response = client.post(reverse("admin:routing_routingjob_changelist"),
                           {"action": "retry", "_selected_action": [j.pk for j in jobs]})
    assert response.status_code == 302
    [event] = events_of(events.ADMIN_ACTION)
    assert event.detail["admin_action"] == "retry" and sorted(event.patient_ids) == ["BULK-0", "BULK-1"]
    assert {o["id"] for o in event.object_refs} == {j.pk for j in jobs}
    message_of(event)


@pytest.mark.parametrize("admin_page, kind", [("worklist_patient", events.VIEW_PATIENT),
                                              ("worklist_imagingorder", events.VIEW_ORDER),
                                              ("routing_study", events.VIEW_PATIENT)])
def test_opening_a_patients_record_in_the_admin_is_recorded(client, admin_page, kind):
    order, _ = scheduled_order(patient=make_patient(patient_id="ADMIN-VIEW-1"))
    row = {"worklist_patient": order.patient, "worklist_imagingorder": order,
           "routing_study": make_study(order=order)}[admin_page]
    viewer = make_user("viewer")
    client.force_login(viewer)
    assert client.get(reverse(f"admin:{admin_page}_change", args=[row.pk])).status_code == 200
    [event] = events_of(kind)
    assert (event.actor_user, event.patient_ids) == (viewer.username, ["ADMIN-VIEW-1"])
    assert message_of(event).find("EventIdentification").get("EventActionCode") == "R"


def test_giving_a_person_a_role_and_a_password_is_recorded_without_the_password(client):
    from django.contrib.auth.models import Group, User

    superuser = make_user("administrator", is_superuser=True)
    client.force_login(superuser)
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "password1": "a long new passphrase 42", "password2": "a long new passphrase 42",
        "usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    newbie = User.objects.get(username="newbie")
    url = reverse("admin:auth_user_change", args=[newbie.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"groups": [Group.objects.get(name="operator").pk], "date_joined_0": "2026-01-01",
                 "date_joined_1": "08:00:00", "user_permissions": []})
    data.pop("last_login", None)
    assert client.post(url, data).status_code == 302
    assert client.post(reverse("admin:auth_user_password_change", args=[newbie.pk]), {
        "password1": "another long passphrase 7", "password2": "another long passphrase 7",
        "usable_password": "true"}).status_code == 302
    added, changed, password = events_of(events.ADMIN_CONFIGURATION)
    assert added.detail["action"] == "C" and added.actor_user == superuser.username
    assert changed.detail["after"]["groups"] == ["operator"] and changed.detail["before"]["groups"] == []
    assert password.detail["after"] == {"password": "(changed)"}
    assert "passphrase" not in str([e.detail for e in (added, changed, password)])
    message_of(changed)
