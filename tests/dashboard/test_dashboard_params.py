"""Hostile page parameters: every dashboard page answers with its default and a notice, never a 500."""
import pytest
from django.test import Client
from django.urls import reverse

from tests.dashboard.support import make_user, page_urls, reader_of

pytestmark = pytest.mark.django_db

# Every parameter a dashboard page reads from its query string.
PARAMETERS = ["date", "page", "fpage", "station", "modality", "status", "q", "type", "ack", "state", "ae", "result",
              "expected", "person", "patient", "kind", "from", "to"]
# Raw query-string values (already percent-encoded where needed).
HOSTILE = {
    "far_future": "9999-12-31",
    "year_zero": "0000-00-00",
    "negative": "-1",
    "huge_number": "1" + "0" * 30,
    "not_utf8": "%FF%FE%C3%28",
    "nul": "abc%00def",
    "very_long": "x" * 5000,
}




@pytest.mark.parametrize("value", sorted(HOSTILE))
@pytest.mark.parametrize("page", sorted(page_urls()))
def test_it_never_answers_a_hostile_parameter_with_a_500(page, value):
    url = page_urls()[page]()
    query = "&".join(f"{name}={HOSTILE[value]}" for name in PARAMETERS)
    reader = Client(raise_request_exception=False)  # a fault must show as the 500 a user would get
    reader.force_login(make_user(reader_of(page)))
    response = reader.get(f"{url}?{query}")
    assert response.status_code in (200, 400), response.content[:2000]


@pytest.mark.parametrize("value", ["9999-12-31", "0000-00-00", "2026-02-30", "yesterday", "1" + "0" * 30])
def test_it_shows_today_and_a_notice_for_a_date_it_cannot_show(staff, value):
    response = staff.get(reverse("dashboard:worklist"), {"date": value})
    assert response.status_code == 200
    assert "(today)" in response.content.decode()
    assert "cannot be shown" in response.content.decode()


@pytest.mark.parametrize("value", ["-1", "0", "abc", "1" + "0" * 30])
def test_it_shows_a_notice_for_a_page_number_it_cannot_show(staff, value):
    response = staff.get(reverse("dashboard:orders"), {"page": value})
    assert response.status_code == 200
    assert "page" in response.content.decode() and "cannot be shown" in response.content.decode()


@pytest.mark.parametrize("value", ["x" * 500, "abc\x00def"])
def test_it_ignores_a_filter_it_cannot_search_for_with_a_notice(staff, value):
    response = staff.get(reverse("dashboard:orders"), {"q": value})
    assert response.status_code == 200
    assert "search" in response.content.decode() and "ignored" in response.content.decode()


@pytest.mark.parametrize("name", ["order_detail", "hl7_detail", "query_detail", "mpps_detail"])
def test_it_answers_404_for_an_id_beyond_any_row(staff, name):
    response = staff.get(reverse(f"dashboard:{name}", args=[10**30]))
    assert response.status_code == 404
