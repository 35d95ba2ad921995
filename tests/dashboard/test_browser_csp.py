"""The Content-Security-Policy as a real browser applies it (Debian's headless Chromium, driven by Playwright).

Every main page, the admin's included, loads with no violation reported: the browser's own console message
("Refused to ... Content Security Policy") and the securitypolicyviolation event are both collected. A page
that does break the policy is caught, so an empty list means something.
"""
import pytest
from django.contrib.auth.models import User

from broker.dashboard import web_security
from tests.dashboard.support import (
    PASSWORD,
    make_hl7_message,
    make_job,
    make_performed_step,
    make_query,
    scheduled_order,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});"""




@pytest.fixture
def page(live_server, browser):
    User.objects.create_superuser("csp.chief", "c@example.org", PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.violations = []
    page.on("console", lambda message: page.violations.append(message.text)
            if "Content Security Policy" in message.text or message.text.startswith("CSP violation") else None)
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "csp.chief")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=By station and modality")
    yield page
    context.close()


def test_it_loads_every_main_page_without_a_csp_violation(live_server, page, settings):
    settings.BROKER_DASHBOARD_REFRESH_SECONDS = 1
    order, _ = scheduled_order(station="CT01")
    make_hl7_message("AA", order=order)
    make_query()
    make_job(sent=3, total=12)
    performed = make_performed_step()
    paths = ["/", "/orders/", f"/orders/{order.pk}/", "/hl7/", "/queries/", "/queues/routing/", "/queues/outbound/",
             "/problems/", f"/mpps/{performed.pk}/", "/conformance/", "/admin/", "/admin/routing/routingjob/",
             "/admin/worklist/patient/", "/admin/auth/user/add/", f"/admin/auth/user/{User.objects.get().pk}/change/"]
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert response.headers["content-security-policy"] == web_security.CONTENT_SECURITY_POLICY
        assert "no-store" in response.headers["cache-control"]
        page.wait_for_load_state("load")
    # The routing queue's progress bar, styled without an inline style, and the auto-refresh still run.
    page.goto(live_server.url + "/queues/routing/")
    assert page.locator("progress.progress").first.get_attribute("value") == "3"
    # A function, not an expression string: Playwright would eval() a string, which the CSP forbids.
    page.wait_for_function("() => document.getElementById('refreshed').textContent.startsWith('Updated')",
                           timeout=15000)

    assert page.violations == []


def test_it_catches_a_page_that_breaks_the_policy(live_server, page):
    page.goto(live_server.url + "/orders/")
    page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.appendChild(script);
    }""")
    assert page.evaluate("window.injected === undefined")
    assert any("script-src" in text for text in page.violations), page.violations
