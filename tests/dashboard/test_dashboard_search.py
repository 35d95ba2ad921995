"""Search that forgives: the orders page finds a patient by every form of the name people type, accessions and AE
titles in any case; the HL7 log finds messages by the accession or patient ID inside them (refused ones too), by
sender and date range; each field says what it accepts."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from broker.hl7.intake import receive
from broker.hl7.models import HL7Message
from tests.dashboard.support import make_query, scheduled_order
from tests.factories import make_patient
from tests.hl7.support import orm, pid

pytestmark = pytest.mark.django_db

NAME_FORMS = ["Schröder, Hannelore", "Hannelore Schröder", "schroeder", "SCHRÖDER", "Schröder^Hannelore",
              "schroeder, hannelore", "Schro"]


@pytest.fixture
def schroder():
    order, _ = scheduled_order(patient=make_patient(name="Schröder^Hannelore", patient_id="P-4711"))
    scheduled_order(patient=make_patient(name="Schmidt^Hanna", patient_id="P-4712"))
    return order


def found(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("typed", NAME_FORMS)
def test_it_finds_the_patient_by_each_form_of_the_name(client, operator, schroder, typed):
    page = found(client, reverse("dashboard:orders"), q=typed)
    assert schroder.accession_number in page
    assert "SCHMIDT" not in page.upper()


def test_it_finds_an_accession_in_any_case(client, operator, schroder):
    page = found(client, reverse("dashboard:orders"), q=schroder.accession_number.lower())
    assert f">{schroder.accession_number}<" in page


def test_it_says_under_the_field_what_it_accepts(client, operator):
    page = found(client, reverse("dashboard:orders"))
    assert 'aria-describedby="q-hint"' in page and "Schröder, Hannelore · Hannelore Schröder · schroeder" in page
    page = found(client, reverse("dashboard:hl7"))
    for hint in ("Sending application (MSH-3)", "Received on or after", "also of refused messages"):
        assert hint in page


def refused_order(accession: str, patient_id: str) -> HL7Message:
    """A cancel for an order the broker never had: refused (AE), no order or patient row to link it to."""
    receipt = receive(orm(control="CA", placer="NEVER1", accession=accession, patient=pid(patient_id=patient_id),
                          app="KIS"), peer="10.1.2.3:5000")
    assert receipt.message.outcome == "AE" and receipt.message.order_id is None
    return receipt.message


def test_it_finds_a_refused_message_by_the_accession_and_patient_id_inside_it(client, operator):
    refused = refused_order("ACC-REF-9", "PID-REF-9")
    other = refused_order("ACC-OTHER", "PID-OTHER")
    for typed in ("ACC-REF-9", "acc-ref-9", "PID-REF-9", "pid-ref-9"):
        page = found(client, reverse("dashboard:hl7"), q=typed)
        assert reverse("dashboard:hl7_detail", args=[refused.pk]) in page, typed
        assert reverse("dashboard:hl7_detail", args=[other.pk]) not in page, typed


def test_it_filters_the_log_by_sender_and_date_range(client, operator):
    from_kis = refused_order("ACC-K1", "P-K1")
    receipt = receive(orm(accession="ACC-R1", placer="PLR1", app="RIS2"), peer="10.1.2.4:5000")
    from_ris = receipt.message
    old = refused_order("ACC-K0", "P-K0")
    HL7Message.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=10))
    url = reverse("dashboard:hl7")
    page = found(client, url, sender="KIS")
    assert reverse("dashboard:hl7_detail", args=[from_kis.pk]) in page
    assert reverse("dashboard:hl7_detail", args=[from_ris.pk]) not in page
    today = timezone.localdate()
    page = found(client, url, **{"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})
    assert reverse("dashboard:hl7_detail", args=[from_kis.pk]) in page
    assert reverse("dashboard:hl7_detail", args=[old.pk]) not in page
    page = found(client, url, **{"to": (today - timedelta(days=5)).isoformat()})
    assert reverse("dashboard:hl7_detail", args=[old.pk]) in page
    assert reverse("dashboard:hl7_detail", args=[from_kis.pk]) not in page


def test_it_ignores_a_bad_date_with_a_notice(client, operator):
    page = found(client, reverse("dashboard:hl7"), **{"from": "31.12.2026"})
    assert "The start date “31.12.2026” is not a date (write it as YYYY-MM-DD); ignored." in page


def test_it_finds_worklist_queries_by_ae_title_in_any_case(client, operator):
    make_query(calling_ae="CT01", match_count=7)
    make_query(calling_ae="MR01", match_count=3)
    page = found(client, reverse("dashboard:queries"), ae="ct01")
    assert "<td>CT01 " in page and "<td>MR01 " not in page


@pytest.mark.parametrize("typed", NAME_FORMS)
def test_it_finds_the_patient_on_the_worklist_by_each_form_of_the_name(client, operator, schroder, typed):
    page = found(client, reverse("dashboard:worklist"), q=typed)
    assert schroder.accession_number in page
    assert "SCHMIDT" not in page.upper().split("<MAIN", 1)[1]
    assert "Schröder, Hannelore · Hannelore Schröder · schroeder" in page
