"""What staff see and do with IANs: the outbound queue page, its retry / give-up buttons, the problems page, the
metrics, and the iansubscribers command."""
import json
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from pydicom.uid import generate_uid

from broker.availability.models import AvailabilityNotification, IanSubscriber
from broker.routing.models import Study
from tests.dashboard.support import make_user

pytestmark = pytest.mark.django_db


def make_ian(state="FAILED", event="COMPLETE", **fields) -> AvailabilityNotification:
    subscriber = IanSubscriber.objects.get_or_create(name="RIS", defaults={"ae_title": "RISIAN", "host": "127.0.0.1",
                                                                           "port": 11115})[0]
    study = Study.objects.create(study_instance_uid=generate_uid(), accession_number="ACC77",
                                 last_received_at=timezone.now())
    values = {"subscriber": subscriber, "study": study, "event": event, "sop_instance_uid": generate_uid(),
              "state": state, "attempts": 1, "instance_count": 3,
              "last_error": "association with RISIAN@127.0.0.1:11115 not established" if state != "SENT" else ""}
    values.update(fields)
    return AvailabilityNotification.objects.create(**values)


def run(*args) -> str:
    out = StringIO()
    call_command("iansubscribers", *args, stdout=out)
    return out.getvalue()


def test_it_lists_open_ians_on_the_outbound_page(client):
    client.force_login(make_user("viewer"))
    failing = make_ian(state="FAILED", response_status=0x0110, response_comment="study unknown")
    make_ian(state="SENT")
    response = client.get("/queues/outbound/")
    assert [a.pk for a in response.context["availability"]] == [failing.pk]
    html = response.content.decode()
    assert f'id="availability-{failing.pk}"' in html and "0x0110 study unknown" in html and "ACC77" in html
    assert reverse("dashboard:availability_retry", args=[failing.pk]) not in html  # a viewer gets no buttons


def test_an_operator_retries_and_gives_up_an_ian(client):
    client.force_login(make_user("operator"))
    retried, given_up = make_ian(), make_ian()
    assert reverse("dashboard:availability_retry", args=[retried.pk]) in client.get("/queues/outbound/").content.decode()
    response = client.post(reverse("dashboard:availability_retry", args=[retried.pk]))
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"Retry IAN #{retried.pk}: done."]
    client.post(reverse("dashboard:availability_give_up", args=[given_up.pk]))
    retried.refresh_from_db()
    given_up.refresh_from_db()
    assert (retried.state, retried.next_attempt_at) == ("PENDING", None)
    assert given_up.state == "GAVE_UP"


def test_a_viewer_cannot_retry_an_ian(client):
    client.force_login(make_user("viewer"))
    assert client.post(reverse("dashboard:availability_retry", args=[make_ian().pk])).status_code == 403


def test_a_given_up_ian_is_a_problem(client):
    client.force_login(make_user("viewer"))
    make_ian(state="GAVE_UP", event="ROUTED")
    html = client.get("/problems/").content.decode()
    assert "IAN study routed to all its destinations" in html and "RISIAN@127.0.0.1:11115 not established" in html


def test_the_metrics_count_ians_by_state(client):
    make_ian(state="PENDING")
    make_ian(state="SENT")
    text = client.get("/metrics").content.decode()
    assert 'broker_instance_availability_notifications{state="SENT"} 1' in text
    assert 'broker_queue_depth{queue="availability_notifications"} 1' in text


def test_it_adds_lists_and_shows_a_subscriber():
    assert run("add", "RIS", "--ae", "RISIAN", "--host", "10.0.0.9", "--port", "104", "--trigger", "both") == \
        "added IAN subscriber RIS\n"
    subscriber = IanSubscriber.objects.get()
    assert (subscriber.ae_title, subscriber.host, subscriber.port, subscriber.trigger) == ("RISIAN", "10.0.0.9", 104, "BOTH")
    assert run("list") == "RIS\tRISIAN@10.0.0.9:104\tboth\n"
    assert json.loads(run("show", "RIS", "--json"))["trigger"] == "BOTH"
    run("disable", "RIS")
    assert run("list") == "RIS\tRISIAN@10.0.0.9:104\tboth\tdisabled\n"


def test_it_refuses_a_bad_ae_title_naming_the_option():
    with pytest.raises(CommandError, match="--ae: an AE title has printable ASCII characters only"):
        run("add", "RIS", "--ae", "RIS\\IAN", "--host", "10.0.0.9", "--port", "104")
    assert not IanSubscriber.objects.exists()


def test_it_keeps_a_subscriber_with_queued_notifications():
    make_ian()
    with pytest.raises(CommandError, match="has instance availability notifications; disable it instead"):
        run("remove", "RIS")
