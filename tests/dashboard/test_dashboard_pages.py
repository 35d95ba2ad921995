"""The staff pages, read side: what each page shows, and who may see it."""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from broker.routing.models import RejectedInstance, RoutingJob
from mpps.models import MppsRequest
from tests.dashboard.support import (
    ADMINISTRATOR_PAGES,
    make_destination,
    make_forward,
    make_hl7_message,
    make_job,
    make_notification,
    make_performed_step,
    make_query,
    make_study,
    make_user,
    page_urls,
    scheduled_order,
)
from tests.factories import make_order, make_patient, make_procedure, make_step

pytestmark = pytest.mark.django_db




@pytest.mark.parametrize("page", sorted(page_urls()))
def test_it_sends_anonymous_visitors_to_the_login_page(client, page):
    url = page_urls()[page]()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("page", sorted(page_urls()))
def test_it_refuses_a_user_without_a_role(client, page):
    url = page_urls()[page]()
    client.force_login(make_user(None))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("page", sorted(page_urls()))
def test_it_shows_every_page_to_a_viewer(client, viewer, page):
    response = client.get(page_urls()[page]())
    if page in ADMINISTRATOR_PAGES:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert b"Log out" in response.content


@pytest.mark.parametrize("page", sorted(ADMINISTRATOR_PAGES))
def test_it_shows_the_administrators_pages_to_an_administrator(client, page):
    client.force_login(make_user("administrator"))
    response = client.get(page_urls()[page]())
    assert response.status_code == 200
    assert b"Log out" in response.content


def test_it_logs_in_with_a_password_and_lands_on_the_worklist(client):
    make_user("viewer", username="tech1")
    page = client.get("/login/")
    assert page.status_code == 200 and b"Staff log-in" in page.content
    response = client.post("/login/", {"username": "tech1", "password": "correct horse battery staple", "next": "/orders/"})
    assert response.status_code == 302 and response["Location"] == "/orders/"
    assert client.get("/orders/").status_code == 200


def test_it_refuses_a_wrong_password(client):
    make_user("viewer", username="tech2")
    response = client.post("/login/", {"username": "tech2", "password": "admin"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


def test_it_ships_no_user_accounts(db):
    from django.contrib.auth.models import User

    assert User.objects.count() == 0


def test_it_logs_out_on_post(client, viewer):
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_it_lists_todays_steps_by_station_and_modality(client, viewer):
    _, ct_step = scheduled_order(station="CT01", patient=make_patient(name="MÜLLER^JÜRGEN"))
    _, mr_step = scheduled_order(station="MR01")
    mr_step.modality = "MR"
    mr_step.status = "STARTED"
    mr_step.save()
    scheduled_order(station="CT09", start=timezone.now() + timedelta(days=3))  # another day: not on today's board
    response = client.get("/")
    board = {(row["station"], row["modality"]): row for row in response.context["board"]}
    assert set(board) == {("CT01", "CT"), ("MR01", "MR")}
    statuses = [value for value, _ in response.context["statuses"]]
    assert board[("MR01", "MR")]["counts"][statuses.index("STARTED")] == 1
    assert "MÜLLER, JÜRGEN" in response.content.decode()
    assert 'data-refresh="' in response.content.decode()


def test_it_filters_the_worklist_by_station(client, viewer):
    order_ct, _ = scheduled_order(station="CT01")
    order_mr, _ = scheduled_order(station="MR01")
    response = client.get("/", {"station": "MR01"})
    shown = [step.requested_procedure.order.pk for step in response.context["page"]]
    assert shown == [order_mr.pk]


def test_it_renders_only_the_body_for_the_refresh_script(client, viewer):
    scheduled_order()
    response = client.get("/", headers={"X-Refresh": "1"})
    assert response.status_code == 200
    assert b"<html" not in response.content and b"By station and modality" in response.content


def test_it_shows_another_day(client, viewer):
    scheduled_order(station="CT07", start=timezone.now() + timedelta(days=2))
    day = timezone.localdate() + timedelta(days=2)
    response = client.get("/", {"date": day.isoformat()})
    assert [row["station"] for row in response.context["board"]] == ["CT07"]


@pytest.mark.parametrize("field", ["accession_number", "patient_id", "name"])
def test_it_finds_an_order_by_accession_patient_id_or_name(client, viewer, field):
    wanted, _ = scheduled_order(accession_number="ACC777", patient=make_patient(patient_id="P777", name="Édith^Piaf"))
    scheduled_order()
    q = {"accession_number": "ACC777", "patient_id": "P777", "name": "edith"}[field]
    response = client.get("/orders/", {"q": q})
    assert [order.pk for order in response.context["page"]] == [wanted.pk]


def test_it_paginates_orders(client, viewer, settings):
    settings.BROKER_DASHBOARD_PAGE_SIZE = 3
    for _ in range(7):
        make_order()
    response = client.get("/orders/", {"page": 3})
    assert response.context["page"].paginator.num_pages == 3
    assert len(response.context["page"].object_list) == 1
    assert b"page 3 of 3" in response.content


def test_it_shows_the_whole_story_of_an_order(client, viewer):
    order, step = scheduled_order(station="CT01")
    make_hl7_message("AA", order=order, control_id="CTRL-NW-1")
    query = make_query(calling_ae="CT01", received_at=None)
    performed = make_performed_step(steps=[step], status="COMPLETED", ended_at=timezone.now())
    study = make_study(order=order, instances=3)
    job = make_job(study=study, destination=make_destination(name="Main PACS"), sent=2, total=3)
    make_notification(order=order, state="SENT", sent_at=timezone.now())
    response = client.get(reverse("dashboard:order_detail", args=[order.pk]))
    context, html = response.context, response.content.decode()
    assert [m.control_id for m in context["hl7_messages"]] == ["CTRL-NW-1"]
    assert context["steps"] == [step]
    assert [p.pk for p in context["performed_steps"]] == [performed.pk]
    assert context["studies"][0].instance_count == 3
    assert context["jobs"] == [job]
    kinds = [event.kind for event in context["events"]]
    for kind in ("order", "hl7", "step", "mpps", "image", "routing", "ris"):
        assert kind in kinds
    assert "Main PACS" in html and "2/3" in html
    assert query.pk in [q.pk for q in context["queries"]]


def test_it_leaves_out_queries_from_other_stations_and_before_the_order(client, viewer):
    order, _ = scheduled_order(station="CT01")
    other_station = make_query(calling_ae="MR01")
    response = client.get(reverse("dashboard:order_detail", args=[order.pk]))
    assert other_station.pk not in [q.pk for q in response.context["queries"]]


def test_it_filters_the_hl7_log_by_type_and_ack_code(client, viewer):
    cache.clear()  # the list of message types is cached for a minute
    accepted = make_hl7_message("AA")
    rejected = make_hl7_message("AR")
    adt = make_hl7_message("AE", message_type="ADT^A08")
    response = client.get("/hl7/", {"ack": "AR"})
    assert [m.pk for m in response.context["page"]] == [rejected.pk]
    response = client.get("/hl7/", {"type": "ADT^A08"})
    assert [m.pk for m in response.context["page"]] == [adt.pk]
    assert set(response.context["types"]) == {"ORM^O01", "ADT^A08"}
    assert accepted.pk in [m.pk for m in client.get("/hl7/").context["page"]]


def test_it_shows_the_raw_message_and_its_ack_side_by_side(client, viewer):
    message = make_hl7_message("AR", control_id="CTRL42")
    html = client.get(reverse("dashboard:hl7_detail", args=[message.pk])).content.decode()
    assert '<span class="seg">MSH</span>|^~\\&amp;|RIS|HOSP' in html
    assert '<span class="seg">PID</span>|1||PID0001' in html  # each segment on its own line
    assert '<span class="seg">MSA</span>|AR|CTRL42' in html
    assert "Unknown procedure code CTXX" in html


def test_it_offers_replay_only_to_operators_and_only_for_rejected_messages(client):
    rejected, accepted = make_hl7_message("AR"), make_hl7_message("AA")
    client.force_login(make_user("viewer"))
    assert b"Replay this message" not in client.get(reverse("dashboard:hl7_detail", args=[rejected.pk])).content
    client.force_login(make_user("operator"))
    assert b"Replay this message" in client.get(reverse("dashboard:hl7_detail", args=[rejected.pk])).content
    assert b"Replay this message" not in client.get(reverse("dashboard:hl7_detail", args=[accepted.pk])).content


def test_it_lists_open_routing_jobs_with_actions_for_operators(client):
    failed = make_job(state=RoutingJob.State.FAILED)
    done = make_job(state=RoutingJob.State.DONE, sent=2, total=2)
    waiting = make_job(state=RoutingJob.State.WAITING, sent=0)
    client.force_login(make_user("operator"))
    response = client.get("/queues/routing/")
    assert {job.pk for job in response.context["page"]} == {failed.pk, waiting.pk}
    html = response.content.decode()
    assert reverse("dashboard:job_retry", args=[failed.pk]) in html
    assert reverse("dashboard:job_retry", args=[done.pk]) not in html
    assert "called AE title not recognised" in html
    assert [job.pk for job in client.get("/queues/routing/", {"state": "DONE"}).context["page"]] == [done.pk]


def test_it_hides_the_action_buttons_from_viewers(client, viewer):
    job = make_job(state=RoutingJob.State.FAILED)
    assert reverse("dashboard:job_retry", args=[job.pk]).encode() not in client.get("/queues/routing/").content


def test_it_lists_ris_notifications_and_mpps_forwards_waiting(client, viewer):
    failing = make_notification(state="FAILED")
    make_notification(state="SENT")
    forward = make_forward(state="PENDING")
    response = client.get("/queues/outbound/")
    assert [n.pk for n in response.context["notifications"]] == [failing.pk]
    assert [f.pk for f in response.context["forwards"]] == [forward.pk]


def test_it_filters_worklist_queries_with_no_matches(client, viewer):
    empty = make_query(match_count=0)
    make_query(match_count=2)
    failed = make_query(match_count=0, status=0xA700, error_comment="Out of resources")
    assert [q.pk for q in client.get("/queries/", {"result": "empty"}).context["page"]] == [empty.pk]
    response = client.get("/queries/", {"result": "failed"})
    assert [q.pk for q in response.context["page"]] == [failed.pk]
    assert b"0xA700" in response.content


def test_it_shows_the_query_identifier_readably(client, viewer):
    query = make_query(calling_ae="US02")
    html = client.get(reverse("dashboard:query_detail", args=[query.pk])).content.decode()
    assert "(0040,0100)" in html and "ScheduledProcedureStepSequence" in html
    assert "ScheduledStationAETitle" in html and "US02" in html


def test_it_lists_the_problems_needing_a_person(client, viewer):
    order, step = scheduled_order()
    unscheduled = make_performed_step(reported_patient_name="ROE^RICHARD")
    make_performed_step(steps=[step])  # linked: not a problem
    missing = make_study(missing_instances=4)
    rejected = make_hl7_message("AR")
    replayed = make_hl7_message("AR")
    replayed.replayed_as = make_hl7_message("AA")
    replayed.save()
    broken = make_destination(name="Broken PACS")
    make_job(destination=broken, state=RoutingJob.State.GAVE_UP, last_error="Connection refused by 127.0.0.1:11113")
    make_job(destination=make_destination(name="Healthy PACS"), state=RoutingJob.State.DONE)
    refused = MppsRequest.objects.create(operation="N-SET", sop_instance_uid="1.2.3.4", calling_ae="CT01", status=0x0120,
                                         error_comment="Missing (0040,0252)", error_detail="Missing (0040,0252) PerformedProcedureStepStatus")
    MppsRequest.objects.create(operation="N-CREATE", sop_instance_uid="1.2.3.5", calling_ae="CT01", status=0)
    held = make_study(state="COMPLETE", held_reason="MPPS discontinued: wrong worklist entry selected")
    refused_image = RejectedInstance.objects.create(calling_ae="US01", sop_instance_uid="1.2.9", status=0xA700,
                                                    error_comment="Out of resources: disk full")
    response = client.get("/problems/")
    shown = response.context["shown"]
    assert [r.pk for r in shown["refused_mpps"]] == [refused.pk]
    assert [s.pk for s in shown["held"]] == [held.pk]
    assert [r.pk for r in shown["refused_images"]] == [refused_image.pk]
    assert "wrong worklist entry selected" in response.content.decode()
    assert "0x0120" in response.content.decode()
    assert [p.pk for p in shown["unscheduled"]] == [unscheduled.pk]
    assert [s.pk for s in shown["missing"]] == [missing.pk]
    assert [m.pk for m in shown["rejected"]] == [rejected.pk]
    assert [d.name for d in response.context["destinations"]] == ["Broken PACS"]
    assert "Connection refused by 127.0.0.1:11113" in response.content.decode()


def test_it_lists_an_mpps_left_in_progress_for_hours(client, viewer, settings):
    settings.BROKER_MPPS_STALE_HOURS = 6
    _, step = scheduled_order()
    forgotten = make_performed_step(steps=[step], reported_patient_name="ROE^RICHARD",
                                    started_at=timezone.now() - timedelta(hours=7))
    make_performed_step(steps=[scheduled_order()[1]], started_at=timezone.now() - timedelta(hours=1))  # still running
    make_performed_step(steps=[scheduled_order()[1]], started_at=timezone.now() - timedelta(hours=9), status="COMPLETED")
    response = client.get("/problems/")
    assert [p.pk for p in response.context["shown"]["stale_mpps"]] == [forgotten.pk]
    html = response.content.decode()
    assert "MPPS in progress for more than 6 hours" in html
    assert "ROE, RICHARD" in html
    assert "broker_mpps_stale 1" in client.get("/metrics").content.decode()


def test_it_proposes_steps_of_the_same_patient_for_an_unscheduled_mpps(client, viewer):
    patient = make_patient(patient_id="P555")
    order = make_order(patient=patient)
    step = make_step(procedure=make_procedure(order=order), station_ae_title="CT02", start=timezone.now())
    make_step(station_ae_title="MR05", modality="MR", start=timezone.now() - timedelta(days=5))  # unrelated
    performed = make_performed_step(reported_patient_id="P555", performed_station_ae_title="CT02")
    response = client.get(reverse("dashboard:mpps_detail", args=[performed.pk]))
    assert [s.pk for s in response.context["candidates"]] == [step.pk]
    assert f'name="step" value="{step.pk}"'.encode() in response.content


def test_it_shows_a_latin1_message_in_its_own_character_set(client, viewer):
    raw = "MSH|^~\\&|RIS|HOSP|BROKER|RADIOLOGY|20260101||ORM^O01|L1|P|2.3.1||||||8859/1\rPID|1||P1^^^HOSP||GÄRTNER^SÖREN\r"
    message = make_hl7_message("AA", raw=raw.encode("latin-1"), charset="8859/1")
    html = client.get(reverse("dashboard:hl7_detail", args=[message.pk])).content.decode()
    assert "GÄRTNER^SÖREN" in html


def test_it_shows_a_date_only_start_as_the_date_alone(client, viewer):
    day = timezone.localdate() + timedelta(days=1)
    start = timezone.make_aware(timezone.datetime(day.year, day.month, day.day))
    order, step = scheduled_order(station="CT09", start=start)
    step.start_date_only = True
    step.save()
    worklist = client.get("/", {"date": day.isoformat()}).content.decode()
    assert '<td class="time">date only</td>' in worklist and '<td class="time">00:00</td>' not in worklist
    html = client.get(reverse("dashboard:order_detail", args=[order.pk])).content.decode()
    assert f'<td class="time">{day:%Y-%m-%d}</td>' in html and f"{day:%Y-%m-%d} 00:00" not in html
