"""Issue 10 item 4 done as the person would, in Chromium against a live server: an administrator opens the audit
trail from the navigation, filters by a patient ID and reads who touched that patient's data. Screenshot to
test-artifacts/."""
from pathlib import Path

import pytest
from playwright.sync_api import expect

from broker.hl7.intake import receive
from tests.dashboard.support import PASSWORD, make_user
from tests.hl7.support import orm, pid

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_an_administrator_filters_the_audit_trail_by_patient(live_server, browser):
    for n, patient_id in enumerate(["P-AUDIT-B1", "P-AUDIT-B2"], start=1):
        receipt = receive(orm(control_id=f"AUDB-{n}", placer=f"PLAB{n}", accession=f"ACCAB{n}", patient=pid(patient_id)),
                          peer=f"10.0.0.{n}:40000")
        assert receipt.message.outcome == "AA", receipt.ack
    make_user("administrator", username="dpo.ada")
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "dpo.ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=By station and modality")
    page.click("nav a:text-is('Audit trail')")
    page.wait_for_selector("h1:text-is('Audit trail')")
    page.fill("input[name=patient]", "P-AUDIT-B2")
    page.press("input[name=patient]", "Enter")
    page.wait_for_url("**/audit/?*patient=P-AUDIT-B2*")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("an HL7 order message applied")
    expect(rows.first).to_contain_text("TEST_RIS|HOSP")
    expect(rows.first).to_contain_text("10.0.0.2:40000")
    expect(rows.first).to_contain_text("order ACCAB2")
    expect(rows.first).not_to_contain_text("P-AUDIT-B1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit-trail-by-patient.png"), full_page=True)
