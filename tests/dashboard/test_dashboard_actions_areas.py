"""Staff actions carried out by the owning area's function (routing, outbound, MPPS, HL7 intake, MWL explain)."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from broker.routing.models import RoutingJob, RoutingRule
from tests.dashboard.support import (
    make_destination,
    make_forward,
    make_job,
    make_notification,
    make_performed_step,
    make_query,
    make_study,
    scheduled_order,
    worklist_identifier,
)
from tests.factories import make_patient
from tests.hl7.support import orm
from worklist.models import ImagingOrder

pytestmark = pytest.mark.django_db




def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("state", [RoutingJob.State.FAILED, RoutingJob.State.GAVE_UP])
def test_it_retries_a_routing_job(client, operator, state):
    job = make_job(state=state)
    response = client.post(reverse("dashboard:job_retry", args=[job.pk]))
    assert flashed(response) == [f"Retry routing job #{job.pk}: done."]
    job.refresh_from_db()
    # Waiting again from a fresh attempt count, due now; the worker picks it up once the request's transaction commits.
    assert (job.state, job.attempts, job.next_attempt_at) == (RoutingJob.State.WAITING, 0, None)


def test_it_gives_up_a_routing_job(client, operator):
    job = make_job(state=RoutingJob.State.FAILED)
    response = client.post(reverse("dashboard:job_give_up", args=[job.pk]))
    assert flashed(response) == [f"Give up routing job #{job.pk}: done."]
    job.refresh_from_db()
    assert job.state == RoutingJob.State.GAVE_UP


def test_it_marks_a_study_complete(client, operator):
    study = make_study(missing_instances=3)
    response = client.post(reverse("dashboard:study_complete", args=[study.pk]))
    assert flashed(response) == [f"Mark study complete #{study.pk}: done."]
    study.refresh_from_db()
    assert (study.state, study.completion_reason) == ("COMPLETE", "OPERATOR")


def test_it_releases_a_held_study_to_the_routing_rules(client, operator):
    study = make_study(state="COMPLETE", completion_reason="MPPS", held_reason="MPPS discontinued: wrong worklist entry")
    pacs = make_destination(name="PACS")
    RoutingRule.objects.create(name="everything to PACS").destinations.add(pacs)
    response = client.post(reverse("dashboard:study_release", args=[study.pk]))
    assert flashed(response) == [f"Release study #{study.pk}: done."]
    assert list(RoutingJob.objects.filter(study=study).values_list("destination__name", flat=True)) == ["PACS"]


@pytest.mark.parametrize("kind", ["notification", "forward"])
def test_it_retries_and_gives_up_outbound_deliveries(client, operator, kind):
    make = make_notification if kind == "notification" else make_forward
    retried, given_up = make(state="FAILED"), make(state="FAILED")
    assert flashed(client.post(reverse(f"dashboard:{kind}_retry", args=[retried.pk])))[0].endswith(": done.")
    assert flashed(client.post(reverse(f"dashboard:{kind}_give_up", args=[given_up.pk])))[0].endswith(": done.")
    retried.refresh_from_db()
    given_up.refresh_from_db()
    assert (retried.state, retried.next_attempt_at) == ("PENDING", None)  # due now, enqueued on commit
    assert (given_up.state, given_up.next_attempt_at) == ("GAVE_UP", None)


def test_it_links_an_unscheduled_mpps_to_the_step_it_performed(client, operator):
    order, step = scheduled_order(station="CT01", patient=make_patient(patient_id="P9001"))
    performed = make_performed_step(reported_patient_id="P9001")
    response = client.post(reverse("dashboard:mpps_link", args=[performed.pk]), {"step": [str(step.pk)]})
    assert response["Location"] == reverse("dashboard:mpps_detail", args=[performed.pk])
    assert flashed(response)[0].endswith(": done.")
    assert list(performed.scheduled_steps.all()) == [step]
    step.refresh_from_db()
    assert step.status == "STARTED"  # as if linked at N-CREATE of an MPPS IN PROGRESS


def test_it_replays_a_rejected_message_through_intake(client, operator):
    """A cancel that overtook its order was refused; once the order arrived, the replayed cancel applies."""
    from broker.hl7.intake import receive

    cancel = receive(orm(control="CA", status="CA", placer="P77", accession="A77", control_id="CA-77"), "ris:1").message
    assert cancel.outcome == "AE"
    receive(orm(placer="P77", accession="A77"), "ris:1")
    response = client.post(reverse("dashboard:hl7_replay", args=[cancel.pk]))
    cancel.refresh_from_db()
    replay = cancel.replayed_as
    assert replay is not None and replay.peer == "replay" and replay.outcome == "AA"
    assert response["Location"] == reverse("dashboard:hl7_detail", args=[replay.pk])
    assert flashed(response) == [f"Replayed as message #{replay.pk}: answered AA."]
    assert ImagingOrder.objects.get(accession_number="A77").status == "CANCELED"


def test_it_explains_which_key_excluded_an_expected_patient(client, operator):
    order, step = scheduled_order(station="CT01", patient=make_patient(patient_id="P4242"))
    query = make_query(calling_ae="CT01", identifier=worklist_identifier(PatientID="SOMEONE-ELSE", ScheduledStationAETitle="CT01"))
    response = client.get(reverse("dashboard:query_detail", args=[query.pk]), {"expected": "P4242"})
    [explanation] = response.context["explanations"]
    assert explanation["step"] == step
    assert explanation["reasons"] == ["Patient ID: the query asked for 'SOMEONE-ELSE'; this step has 'P4242'."]
    matching = make_query(calling_ae="CT01", identifier=worklist_identifier(PatientID="P4242", ScheduledStationAETitle="CT01"))
    response = client.get(reverse("dashboard:query_detail", args=[matching.pk]), {"expected": order.accession_number})
    assert response.context["explanations"][0]["reasons"] == []
    assert b"matches every key of the query" in response.content


def test_it_lists_only_queries_whose_keys_returned_the_order(client, operator):
    order, _ = scheduled_order(station="CT01", patient=make_patient(patient_id="P7070"))
    returned = make_query(calling_ae="CT01", identifier=worklist_identifier(PatientID="P7070", ScheduledStationAETitle="CT01"))
    other_patient = make_query(calling_ae="CT01", identifier=worklist_identifier(PatientID="P0000", ScheduledStationAETitle="CT01"))
    response = client.get(reverse("dashboard:order_detail", args=[order.pk]))
    shown = [query.pk for query in response.context["queries"]]
    assert returned.pk in shown and other_patient.pk not in shown
