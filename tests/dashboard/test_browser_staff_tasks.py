"""Issue 12 items 2 and 3 done as the person would, in Chromium against a live server: an administrator saves
invalid configuration and reads the errors, tests connections to a live and a dead peer and reads the result;
a technologist finds a patient by each form of the name; an integration analyst finds a refused HL7 message by
the accession inside it. Screenshots go to test-artifacts/."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.hl7.intake import receive
from broker.outbound.models import RisEndpoint
from tests.dashboard.support import PASSWORD, make_destination, make_user, scheduled_order
from tests.factories import make_patient
from tests.hl7.support import orm, pid
from tests.mpps.support import RisServer, running
from tests.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page(live_server, browser):
    def log_in(role: str, username: str):
        make_user(role, username=username)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(live_server.url + "/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=By station and modality")
        return page

    return log_in


@pytest.fixture
def echo_scp():
    ae = AE(ae_title="PACS")
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    yield server.server_address[1]
    server.shutdown()


def test_it_shows_an_administrator_what_is_wrong_with_a_destination(live_server, page):
    page = page("administrator", "pacs.admin")
    page.goto(live_server.url + "/admin/routing/destination/add/")
    expect(page.locator("label[for=id_ae_title]")).to_have_text(re.compile("^AE title"))
    page.fill("#id_name", "Main PACS")
    page.fill("#id_ae_title", "PACS_ARCHIVE_MAIN")  # 17 characters: the browser must not cut it
    assert page.input_value("#id_ae_title") == "PACS_ARCHIVE_MAIN"
    page.fill("#id_host", "pacs.example")
    page.fill("#id_port", "99999")
    page.click("input[name=_save]")
    expect(page.locator(".errornote")).to_be_visible()
    shot(page, "20-admin-destination-errors")
    expect(page.locator(".field-ae_title .errorlist")).to_contain_text("an AE title has 1 to 16 characters")
    expect(page.locator(".field-port .errorlist")).to_have_text("port 99999 is not between 1 and 65535")
    # Every field says what it takes.
    expect(page.locator(".field-ae_title .help")).to_contain_text("1 to 16 printable ASCII characters")


def test_it_refuses_latin1_and_offers_services_as_checkboxes(live_server, page):
    page = page("administrator", "pacs.admin")
    page.goto(live_server.url + "/admin/dicom/remoteae/add/")
    expect(page.locator("input[type=checkbox][name=allowed_services]")).to_have_count(5)
    page.fill("#id_ae_title", "CT01")
    page.fill("#id_character_set", "latin1")
    page.check("input[name=allowed_services][value=mwl]")
    page.click("input[name=_save]")
    errors = page.locator(".field-character_set .errorlist")
    expect(errors).to_contain_text("'latin1' is not a DICOM character set the broker answers in; accepted:")
    expect(errors).to_contain_text("ISO_IR 100")
    expect(page.locator("input[name=allowed_services][value=mwl]")).to_be_checked()
    shot(page, "21-admin-remote-ae-errors")


def test_it_tests_dicom_and_ris_connections_and_says_what_happened(live_server, page, echo_scp):
    live = make_destination(name="Main PACS", ae_title="PACS", host="127.0.0.1", port=echo_scp)
    dead_port = free_port()
    dead = make_destination(name="Old PACS", ae_title="OLD", host="127.0.0.1", port=dead_port)
    page = page("administrator", "pacs.admin")
    page.goto(live_server.url + f"/admin/routing/destination/{live.pk}/change/")
    page.click("button:text-is('Test connection')")
    expect(page.locator("ul.messagelist li.success")).to_have_text(re.compile(
        rf"Test connection: the destination Main PACS \(PACS\) at 127\.0\.0\.1:{echo_scp} answered the C-ECHO "
        r"with Success in \d+ ms\."))
    shot(page, "22-admin-test-connection-live")
    page.goto(live_server.url + f"/admin/routing/destination/{dead.pk}/change/")
    page.click("button:text-is('Test connection')")
    expect(page.locator("ul.messagelist li.error")).to_have_text(
        f"Test connection: the destination Old PACS (OLD) at 127.0.0.1:{dead_port} refused the connection "
        f"(nothing listens on that port).")
    shot(page, "23-admin-test-connection-dead")

    with running(RisServer()) as ris:
        endpoint = RisEndpoint.objects.create(name="RIS", host="127.0.0.1", port=ris.port)
        page.goto(live_server.url + f"/admin/outbound/risendpoint/{endpoint.pk}/change/")
        page.click("button:text-is('Test connection')")
        expect(page.locator("ul.messagelist li.success")).to_have_text(re.compile(
            rf"Test connection: the RIS at 127\.0\.0\.1:{ris.port} answered the test message with AA in \d+ ms\."))
        assert "NMQ^N01" in ris.received[0]
    RisEndpoint.objects.filter(pk=endpoint.pk).update(port=dead_port)
    page.reload()
    page.click("button:text-is('Test connection')")
    expect(page.locator("ul.messagelist li.error")).to_have_text(
        f"Test connection: the RIS at 127.0.0.1:{dead_port} refused the connection (nothing listens on that port).")
    shot(page, "24-admin-test-connection-ris")


def test_it_finds_the_patient_by_each_form_of_the_name(live_server, page):
    order, _ = scheduled_order(patient=make_patient(name="Schröder^Hannelore", patient_id="P-4711"))
    scheduled_order(patient=make_patient(name="Schmidt^Hanna", patient_id="P-4712"))
    page = page("operator", "tech.anna")
    page.goto(live_server.url + "/orders/")
    expect(page.locator("#q-hint")).to_contain_text("Schröder, Hannelore")
    for n, typed in enumerate(["Schröder, Hannelore", "Hannelore Schröder", "schroeder", "SCHRÖDER"]):
        page.fill("input[name=q]", typed)
        page.press("input[name=q]", "Enter")
        rows = page.locator("table.grid tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Schröder, Hannelore", ignore_case=True)
        expect(rows.first.locator(f"a:text-is('{order.accession_number}')")).to_be_visible()
        shot(page, f"25-orders-search-{n}")
    page.fill("input[name=q]", order.accession_number.lower())
    page.press("input[name=q]", "Enter")
    expect(page.locator(f"table.grid a:text-is('{order.accession_number}')")).to_be_visible()


def test_it_finds_a_refused_message_by_the_accession_inside_it(live_server, page):
    receipt = receive(orm(control="CA", placer="NEVER1", accession="ACC-REF-9", patient=pid(patient_id="PID-REF-9"),
                          app="KIS"), peer="10.1.2.3:5000")
    assert receipt.message.outcome == "AE"
    receive(orm(accession="ACC-OK-1", placer="PLOK1"), peer="10.1.2.4:5000")
    page = page("viewer", "analyst.ida")
    page.goto(live_server.url + "/hl7/")
    page.fill("input[name=q]", "acc-ref-9")
    page.press("input[name=q]", "Enter")
    rows = page.locator("table.grid tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("KIS")
    expect(rows.first.locator(".badge")).to_contain_text("AE")
    shot(page, "26-hl7-search-refused")
    rows.first.locator("td.time a").click()
    expect(page.locator("text=Message as received")).to_be_visible()
    expect(page.locator("body")).to_contain_text("ACC-REF-9")
