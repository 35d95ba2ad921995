"""A real browser (Debian's headless Chromium driven by Playwright) against a live server.

Logs in, finds the order an HL7 message just created, opens its timeline, retries a failed routing job;
a screenshot of each page goes to test-artifacts/ (not committed) for people to look at.
"""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from broker.routing.models import RoutingJob
from tests.dashboard.support import (
    PASSWORD,
    make_destination,
    make_forward,
    make_hl7_message,
    make_job,
    make_notification,
    make_performed_step,
    make_query,
    make_study,
    make_user,
    scheduled_order,
)
from tests.factories import make_patient
from tests.hl7.support import orm, pid

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
def order_from_hl7(n: int):
    """The order an ORM^O01 from the RIS just created, through the same intake the MLLP listener uses."""
    from broker.hl7.intake import receive
    from worklist.models import ImagingOrder, StationAssignmentRule

    StationAssignmentRule.objects.get_or_create(match_modality="CT", defaults={"station_ae_titles": "CT01", "station_names": "CT ROOM 1"})
    raw = orm(placer=f"PLB{n}", accession=f"ACCB{n}", control_id=f"BROWSER-{n}",
              start=timezone.localtime().strftime("%Y%m%d%H%M%S"),
              patient=pid(patient_id=f"PB{n}", name="SCHNEIDER^ANNA^MARIA", birth="19750314", sex="F"))
    receipt = receive(raw, peer="127.0.0.1:39999")
    assert receipt.message.outcome == "AA", receipt.ack
    return ImagingOrder.objects.get(pk=receipt.message.order_id)




def shot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_it_takes_an_operator_from_an_hl7_order_to_a_retried_routing_job(live_server, browser, settings):
    settings.BROKER_DASHBOARD_REFRESH_SECONDS = 1
    make_user("operator", username="tech.anna")
    order = order_from_hl7(4711)
    step = order.requested_procedures.first().scheduled_steps.first()
    make_query(calling_ae=step.station_ae_title.split("\\")[0] or "CT01", match_count=3)
    started = timezone.now()
    performed = make_performed_step(steps=[step], status="COMPLETED", started_at=started, ended_at=started + timedelta(seconds=1))
    study = make_study(order=order, instances=12, completed_at=timezone.now(), state="COMPLETE", completion_reason="MPPS")
    failed = make_job(study=study, destination=make_destination(name="Main PACS", ae_title="PACS"), sent=7, total=12)
    make_job(study=study, destination=make_destination(name="AI node", ae_title="AINODE"), state=RoutingJob.State.DONE, sent=12, total=12)
    make_notification(order=order, state="SENT", sent_at=timezone.now())
    # A few more rows so every page has something to show.
    for n in range(3):
        scheduled_order(station=["CT01", "MR01", "US02"][n])
    make_hl7_message("AR")
    make_performed_step(reported_patient_name="ROE^RICHARD", performed_station_ae_title="MR01", modality="MR")
    make_study(missing_instances=2, patient_name="ROE^RICHARD")
    make_forward(state="FAILED")

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(live_server.url + "/")
    assert page.url.startswith(live_server.url + "/login/")
    shot(page, "01-login")
    page.fill("#id_username", "tech.anna")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=By station and modality")
    shot(page, "02-worklist")
    # A step scheduled now appears on the open worklist page without a reload (the refresh script).
    page.evaluate("window.notReloaded = true")
    scheduled_order(station="XR09", patient=make_patient(name="LIVE^ARRIVAL"))
    page.wait_for_selector("a:text-is('LIVE, ARRIVAL')", timeout=15000)
    assert page.evaluate("window.notReloaded") is True

    page.goto(live_server.url + "/orders/")
    page.fill("input[name=q]", order.accession_number)
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(f"a:text-is('{order.accession_number}')")
    shot(page, "03-orders")
    page.click(f"a:text-is('{order.accession_number}')")
    page.wait_for_selector("h2:text-is('Timeline')")
    assert re.search(r"/orders/\d+/$", page.url)
    assert page.locator("ol.events li.event.hl7").count() >= 1
    assert "SCHNEIDER, ANNA MARIA" in page.inner_text(".cards")
    shot(page, "04-order-timeline")

    for name, path in [("05-hl7-log", "/hl7/"), ("07-queries", "/queries/"), ("09-outbound", "/queues/outbound/"),
                       ("10-problems", "/problems/"), ("11-mpps", f"/mpps/{performed.pk}/"), ("12-admin", "/admin/"),
                       ("13-admin-jobs", "/admin/routing/routingjob/")]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        shot(page, name)
        if name == "05-hl7-log":
            page.click("table.grid tbody tr:first-child td.time a")
            page.wait_for_selector("text=Message as received")
            shot(page, "06-hl7-message")
        if name == "07-queries":
            page.click("table.grid tbody tr:first-child td.time a")
            page.fill("input[name=expected]", order.patient.patient_id)
            page.press("input[name=expected]", "Enter")
            page.wait_for_selector("text=Request identifier")
            shot(page, "08-query-explain")

    page.goto(live_server.url + "/queues/routing/")
    row = page.locator(f"#job-{failed.pk}")
    assert "Main PACS" in row.inner_text() and "7/12" in row.inner_text()
    shot(page, "14-routing-queue")
    # The pointer resting on the button holds the refresh back, so the row cannot change under it.
    row.locator("button:text-is('Retry')").click()
    message = page.locator("ul.flash li .text")
    expect(message).to_have_text(f"Retry routing job #{failed.pk}: done.")
    shot(page, "15-routing-retried")
    # What the action said stays on the page after the auto-refresh has replaced the page body (the person
    # reads it with the pointer off the buttons, else the refresh would wait).
    # A function, not an expression string: Playwright would eval() a string, which the CSP forbids.
    page.mouse.move(0, 0)
    page.wait_for_function("() => document.getElementById('refreshed').textContent.startsWith('Updated')",
                           timeout=15000)
    expect(message).to_have_text(f"Retry routing job #{failed.pk}: done.")
    # Until the person dismisses it; the next refresh does not bring it back.
    page.click("ul.flash button.dismiss")
    expect(page.locator("ul.flash")).to_have_count(0)
    page.evaluate("() => { document.getElementById('refreshed').textContent = ''; }")
    page.wait_for_function("() => document.getElementById('refreshed').textContent.startsWith('Updated')",
                           timeout=15000)
    expect(page.locator("ul.flash")).to_have_count(0)
    failed.refresh_from_db()
    assert failed.state not in (RoutingJob.State.FAILED, RoutingJob.State.GAVE_UP)
