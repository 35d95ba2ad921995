"""The Conformance Statement page: the running configuration's statement, for staff, linked from the navigation."""
import pytest
from django.urls import reverse

from broker.conformance.document import html_text
from broker.conformance.statement import build
from tests.dashboard.support import make_user

pytestmark = pytest.mark.django_db


def test_it_is_linked_from_every_pages_navigation(client, viewer):
    page = client.get(reverse("dashboard:worklist")).content.decode()

    assert f'<a href="{reverse("dashboard:conformance")}" >Conformance</a>' in page


def test_it_shows_the_statement_of_the_running_configuration(client, viewer, settings):
    settings.BROKER_DICOM_MAX_PDU = 32768
    settings.BROKER_AE_TITLE = "RADBROKER"

    response = client.get(reverse("dashboard:conformance"))
    page = response.content.decode()

    assert response.status_code == 200
    assert f"<h1>{html_text(build().title)}</h1>" in page
    assert "<td>Maximum PDU size received (listener)</td><td>32768 bytes</td>" in page
    assert '<h4 id="221-radbroker-ae-specification">2.2.1 RADBROKER AE Specification</h4>' in page
    assert 'class="current">Conformance</a>' in page


def test_it_is_for_staff_only(client):
    url = reverse("dashboard:conformance")
    assert client.get(url).status_code == 302  # to the log-in page
    client.force_login(make_user(None))
    assert client.get(url).status_code == 403
