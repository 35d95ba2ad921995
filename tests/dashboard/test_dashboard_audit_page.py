"""The audit trail page (/audit/): administrators filter real events by person, patient, AE, kind and dates."""
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from broker.audit import events
from broker.audit.models import AuditEvent
from broker.dashboard.audit_page import detail_summary, object_summary
from broker.hl7.intake import receive
from tests.audit.support import coded, message_of
from tests.dashboard.support import PASSWORD, make_user
from tests.hl7.support import orm, pid

pytestmark = pytest.mark.django_db

AUDIT = "/audit/"


def hl7_order(n: int, patient_id: str, app: str = "TEST_RIS"):
    """An order as the RIS sends it, through the intake the MLLP listener uses: it records hl7.order."""
    receipt = receive(orm(control_id=f"TRAIL-{n}", placer=f"PLT{n}", accession=f"ACCT{n}", app=app,
                          patient=pid(patient_id)), peer=f"10.0.0.{n}:40000")
    assert receipt.message.outcome == "AA", receipt.ack
    return receipt.message.order


@pytest.fixture
def trail(client):
    """Two RIS orders, a viewer who logs in with her password and opens the first order's page."""
    first, second = hl7_order(1, "P-TRAIL-1"), hl7_order(2, "P-TRAIL-2", app="OTHER_RIS")
    make_user("viewer", username="anna")
    anna = Client()
    assert anna.post("/login/", {"username": "anna", "password": PASSWORD}).status_code == 302
    assert anna.get(reverse("dashboard:order_detail", args=[first.pk])).status_code == 200
    return {"first": first, "second": second}


@pytest.fixture
def administrator():
    client = Client(raise_request_exception=False)  # a fault must show as the 500 a user would get
    client.force_login(make_user("administrator", username="ada"))
    return client


def shown(response) -> list[tuple[str, str, list]]:
    """The rows the page shows: (kind, who, patients), newest first."""
    assert response.status_code == 200, response.content[:2000]
    return [(row["event"].kind, row["event"].actor_user or row["event"].actor_ae, row["event"].patient_ids)
            for row in response.context["rows"]]


def test_it_filters_by_person(trail, administrator):
    assert shown(administrator.get(AUDIT, {"person": "anna"})) == [
        (events.VIEW_ORDER, "anna", ["P-TRAIL-1"]), (events.LOGIN, "anna", [])]


def test_it_filters_by_patient_exactly(trail, administrator):
    response = administrator.get(AUDIT, {"patient": "P-TRAIL-1"})
    assert shown(response) == [(events.VIEW_ORDER, "anna", ["P-TRAIL-1"]),
                               (events.HL7_ORDER, "TEST_RIS|HOSP", ["P-TRAIL-1"])]
    page = response.content.decode()
    assert "a person viewed an order&#x27;s page" in page and "order ACCT1" in page and "10.0.0.1:40000" in page
    hl7_event = response.context["rows"][1]["event"]
    assert timezone.localtime(hl7_event.time).strftime("%Y-%m-%d %H:%M:%S") in page  # the department's zone
    assert ">success<" in page.replace("\n", "").replace(" ", "")
    assert shown(administrator.get(AUDIT, {"patient": "P-TRAIL"})) == []  # no part of an ID: exactly that patient


def test_it_filters_by_ae_in_any_case_and_by_sender(trail, administrator):
    assert shown(administrator.get(AUDIT, {"ae": "other_ris"})) == [(events.HL7_ORDER, "OTHER_RIS|HOSP", ["P-TRAIL-2"])]
    assert shown(administrator.get(AUDIT, {"ae": "TEST_RIS|HOSP"})) == [(events.HL7_ORDER, "TEST_RIS|HOSP", ["P-TRAIL-1"])]


def test_it_filters_by_event_type_offered_with_its_description(trail, administrator):
    response = administrator.get(AUDIT, {"kind": events.LOGIN})
    assert shown(response) == [(events.LOGIN, "ada", []), (events.LOGIN, "anna", [])]  # ada's is her force_login
    assert f'<option value="{events.LOGIN}" selected>a person logged in</option>' in response.content.decode()
    assert shown(administrator.get(AUDIT, {"kind": events.HL7_ORDER, "person": "anna"})) == []


def test_it_filters_by_date_range_in_the_departments_days(trail, administrator):
    today = timezone.localdate()
    kinds = [kind for kind, _, _ in shown(administrator.get(AUDIT, {"from": today.isoformat(), "to": today.isoformat(),
                                                                    "patient": "P-TRAIL-2"}))]
    assert kinds == [events.HL7_ORDER]
    assert shown(administrator.get(AUDIT, {"from": (today + timedelta(days=1)).isoformat()})) == []
    assert shown(administrator.get(AUDIT, {"to": (today - timedelta(days=1)).isoformat()})) == []


@pytest.mark.parametrize("field, value", [("from", "2026-02-30"), ("to", "yesterday"), ("from", "9999-12-31"),
                                          ("to", "1" + "0" * 30)])
def test_a_bad_date_gives_a_notice_and_the_unfiltered_trail(trail, administrator, field, value):
    response = administrator.get(AUDIT, {field: value, "patient": "P-TRAIL-2"})
    assert shown(response) == [(events.HL7_ORDER, "OTHER_RIS|HOSP", ["P-TRAIL-2"])]
    assert "ignored" in response.content.decode() and 'class="flash notice"' in response.content.decode()


def test_an_end_before_the_start_is_a_notice(trail, administrator):
    today = timezone.localdate()
    response = administrator.get(AUDIT, {"from": today.isoformat(), "to": (today - timedelta(days=3)).isoformat(),
                                         "patient": "P-TRAIL-2"})
    assert len(shown(response)) == 1 and "is before the start date" in response.content.decode()


@pytest.mark.parametrize("value", ["x" * 5000, "abc\x00def", "no.such.kind"])
def test_hostile_parameters_are_notices_never_a_500(administrator, value):
    query = {name: value for name in ("person", "patient", "ae", "kind", "from", "to", "page")}
    response = administrator.get(AUDIT, query)
    assert response.status_code == 200, response.content[:2000]
    assert "ignored" in response.content.decode()


def test_an_unknown_event_type_is_a_notice(administrator):
    response = administrator.get(AUDIT, {"kind": "no.such.kind"})
    assert response.status_code == 200 and "is not one of this page" in response.content.decode()


def test_it_is_paginated_newest_first(administrator, settings):
    settings.BROKER_DASHBOARD_PAGE_SIZE = 2
    for n in range(3):
        hl7_order(10 + n, f"P-PAGE-{n}")
    first = shown(administrator.get(AUDIT, {"kind": events.HL7_ORDER}))
    second = shown(administrator.get(AUDIT, {"kind": events.HL7_ORDER, "page": 2}))
    assert [p for _, _, p in first + second] == [["P-PAGE-2"], ["P-PAGE-1"], ["P-PAGE-0"]]


@pytest.mark.parametrize("role", ["viewer", "operator", None])
def test_only_administrators_see_it(client, role):
    client.force_login(make_user(role))
    assert client.get(AUDIT).status_code == 403
    if role:
        assert b"Audit trail" not in client.get(reverse("dashboard:worklist")).content


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(AUDIT)
    assert response.status_code == 302 and response["Location"] == "/login/?next=/audit/"


def test_the_navigation_links_it_for_administrators(administrator):
    assert f'href="{AUDIT}"' in administrator.get(reverse("dashboard:worklist")).content.decode()


def test_the_order_page_leads_to_who_accessed_the_patients_record(trail, administrator):
    order_page = administrator.get(reverse("dashboard:order_detail", args=[trail["first"].pk])).content.decode()
    link = f"{AUDIT}?patient=P-TRAIL-1"
    assert f'href="{link}">who accessed this record</a>' in order_page
    assert shown(administrator.get(link)) == [(events.VIEW_ORDER, "ada", ["P-TRAIL-1"]),
                                              (events.VIEW_ORDER, "anna", ["P-TRAIL-1"]),
                                              (events.HL7_ORDER, "TEST_RIS|HOSP", ["P-TRAIL-1"])]
    anna = Client()
    anna.force_login(make_user("operator"))
    assert "who accessed this record" not in anna.get(reverse("dashboard:order_detail", args=[trail["first"].pk])).content.decode()


def test_reading_the_trail_is_recorded_but_not_its_auto_refresh(trail, administrator):
    before = AuditEvent.objects.filter(kind=events.VIEW_AUDIT).count()
    response = administrator.get(AUDIT, {"patient": "P-TRAIL-1", "person": "anna"})
    assert events.VIEW_AUDIT not in [kind for kind, _, _ in shown(response)]  # the trail as it was when opened
    [view] = AuditEvent.objects.filter(kind=events.VIEW_AUDIT)[before:]
    assert (view.actor_user, view.actor_address, view.outcome) == ("ada", "127.0.0.1", 0)
    assert view.detail["filters"] == {"patient": "P-TRAIL-1", "person": "anna"}
    assert view.object_refs == [{"type": "audit_log", "uri": "http://testserver/audit/?patient=P-TRAIL-1&person=anna"}]
    assert coded(message_of(view), "EventIdentification/EventID")[:1] == ("110101",)
    administrator.get(AUDIT, {"patient": "P-TRAIL-1"}, headers={"X-Refresh": "1"})
    assert AuditEvent.objects.filter(kind=events.VIEW_AUDIT).count() == before + 1
    assert shown(administrator.get(AUDIT, {"kind": events.VIEW_AUDIT}))[0] == (events.VIEW_AUDIT, "ada", [])


@pytest.mark.parametrize("ref, summary", [
    ({"type": "order", "id": 4, "accession": "ACC1", "placer": "PL1"}, "order ACC1"),
    ({"type": "order", "id": 4, "accession": "", "placer": "PL1"}, "order PL1"),
    ({"type": "hl7", "id": 3, "control_id": "MSG1", "message_type": "ORM^O01"}, "hl7 MSG1"),
    ({"type": "routing_job", "id": 2}, "routing job #2"),
    ({"type": "study", "uid": "1.2.3", "id": 7, "accession": ""}, "study 1.2.3"),
    ({"type": "routing.destination", "id": 1, "name": "PACS"}, "routing.destination PACS"),
    ({"type": "query"}, "query"),
])
def test_object_summary(ref, summary):
    assert object_summary(ref) == summary


@pytest.mark.parametrize("detail, summary", [
    ({}, ""),
    ({"action": "C"}, "action: C"),
    ({"action_name": "retry routing job #2"}, "action name: retry routing job #2"),
    ({"action": "U", "before": {"port": 104}, "after": {"port": 11112, "host": "pacs"}}, "changed: host, port; action: U"),
    ({"path": "/orders/4/"}, ""),
    ({"filters": {"patient": "P1"}, "page": 1}, 'filters: {"patient": "P1"}; page: 1'),
    ({"error": "x" * 500}, "error: " + "x" * 152 + "…"),
])
def test_detail_summary(detail, summary):
    assert detail_summary(detail) == summary


def test_the_patient_filter_is_answered_by_an_index_on_postgresql(trail):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the GIN index is PostgreSQL's; SQLite reads a bounded number of the newest events")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("""EXPLAIN SELECT id FROM audit_auditevent WHERE patient_ids @> '["P-TRAIL-1"]'""")
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "audit_event_patient_ids_gin" in plan, plan
