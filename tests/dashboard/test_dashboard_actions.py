"""Staff actions: who may do them, and the guards the dashboard itself applies before calling an area."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from broker.hl7.models import HL7Message
from broker.routing.models import RoutingJob
from tests.dashboard.support import (
    make_forward,
    make_hl7_message,
    make_job,
    make_notification,
    make_performed_step,
    make_study,
    make_user,
)

pytestmark = pytest.mark.django_db


def action_urls():
    return {
        "hl7_replay": lambda: reverse("dashboard:hl7_replay", args=[make_hl7_message("AR").pk]),
        "job_retry": lambda: reverse("dashboard:job_retry", args=[make_job().pk]),
        "job_give_up": lambda: reverse("dashboard:job_give_up", args=[make_job().pk]),
        "study_complete": lambda: reverse("dashboard:study_complete", args=[make_study(missing_instances=1).pk]),
        "study_release": lambda: reverse("dashboard:study_release", args=[make_study(held_reason="MPPS discontinued").pk]),
        "notification_retry": lambda: reverse("dashboard:notification_retry", args=[make_notification().pk]),
        "notification_give_up": lambda: reverse("dashboard:notification_give_up", args=[make_notification().pk]),
        "forward_retry": lambda: reverse("dashboard:forward_retry", args=[make_forward().pk]),
        "forward_give_up": lambda: reverse("dashboard:forward_give_up", args=[make_forward().pk]),
        "mpps_link": lambda: reverse("dashboard:mpps_link", args=[make_performed_step().pk]),
    }


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("action", sorted(action_urls()))
def test_it_sends_anonymous_actions_to_the_login_page(client, action):
    url = action_urls()[action]()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("action", sorted(action_urls()))
def test_it_refuses_actions_to_a_viewer(client, action):
    url = action_urls()[action]()
    client.force_login(make_user("viewer"))
    assert client.post(url, {"step": "1"}).status_code == 403


@pytest.mark.parametrize("action", sorted(action_urls()))
def test_it_accepts_actions_only_as_post(client, action):
    url = action_urls()[action]()
    client.force_login(make_user("operator"))
    assert client.get(url).status_code == 405


def test_it_checks_the_csrf_token_of_an_action(client):
    from django.test import Client

    job = make_job()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("operator"))
    assert strict.post(reverse("dashboard:job_retry", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == RoutingJob.State.FAILED


def test_it_does_not_replay_an_accepted_message(client):
    accepted = make_hl7_message("AA")
    client.force_login(make_user("operator"))
    response = client.post(reverse("dashboard:hl7_replay", args=[accepted.pk]))
    assert response.status_code == 302
    assert flashed(response) == ["This message was accepted; only rejected messages are replayed."]
    assert HL7Message.objects.count() == 1


def test_it_does_not_replay_a_message_twice(client):
    rejected = make_hl7_message("AR")
    rejected.replayed_as = make_hl7_message("AA")
    rejected.save()
    client.force_login(make_user("operator"))
    response = client.post(reverse("dashboard:hl7_replay", args=[rejected.pk]))
    assert flashed(response) == [f"Already replayed as message #{rejected.replayed_as_id}."]
    assert HL7Message.objects.count() == 2


def test_it_asks_which_steps_to_link(client):
    performed = make_performed_step()
    client.force_login(make_user("operator"))
    response = client.post(reverse("dashboard:mpps_link", args=[performed.pk]), {"step": ["x"]})
    assert response["Location"] == reverse("dashboard:mpps_detail", args=[performed.pk])
    assert flashed(response) == ["Choose the scheduled step(s) this MPPS performed."]
    assert performed.scheduled_steps.count() == 0


def test_it_returns_to_the_page_the_action_came_from_but_never_off_site(client):
    client.force_login(make_user("operator"))
    job = make_job()
    back = client.post(reverse("dashboard:job_give_up", args=[job.pk]), {"next": "/queues/routing/?state=FAILED"})
    assert back["Location"] == "/queues/routing/?state=FAILED"
    away = client.post(reverse("dashboard:job_give_up", args=[make_job().pk]), {"next": "https://evil.example/"})
    assert away["Location"] == reverse("dashboard:routing")


def test_it_shows_what_the_area_answered(client):
    """Whatever the area does, the person sees one message saying whether it worked (unknown id: an error)."""
    client.force_login(make_user("operator"))
    response = client.post(reverse("dashboard:job_retry", args=[987654]))
    assert response.status_code == 302
    [message] = flashed(response)
    assert message.startswith("Could not retry routing job #987654")
