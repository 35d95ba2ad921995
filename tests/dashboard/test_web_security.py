"""The web side under a security policy (issue 9): idle sessions, log-in throttling, passwords, headers."""
import time

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from broker.dashboard import web_security
from tests.dashboard.support import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _fail_login(client, url, username, address="10.1.1.1"):
    return client.post(url, {"username": username, "password": "wrong password here"}, REMOTE_ADDR=address)


def _login(client, url, username, address="10.1.1.1"):
    return client.post(url, {"username": username, "password": PASSWORD}, REMOTE_ADDR=address)


# --- idle sessions ---

def test_it_sends_a_session_idle_past_the_limit_to_log_in(client, settings):
    settings.BROKER_SESSION_IDLE_MINUTES = 30
    make_user("viewer", username="idle.ida")
    assert _login(client, "/login/", "idle.ida").status_code == 302
    assert client.get("/orders/").status_code == 200
    session = client.session
    session[web_security.LAST_SEEN_KEY] = time.time() - 31 * 60
    session.save()

    response = client.get("/orders/")

    assert response.status_code == 302
    assert response.url.startswith("/login/?next=/orders/")
    assert client.get("/orders/").status_code == 302  # logged out, not just redirected once


def test_it_keeps_a_session_used_within_the_limit(client, settings):
    settings.BROKER_SESSION_IDLE_MINUTES = 30
    make_user("viewer", username="busy.bea")
    _login(client, "/login/", "busy.bea")
    session = client.session
    session[web_security.LAST_SEEN_KEY] = time.time() - 29 * 60
    session.save()

    assert client.get("/orders/").status_code == 200
    assert time.time() - client.session[web_security.LAST_SEEN_KEY] < 60  # the request renewed it


def test_it_does_not_count_the_pages_auto_refresh_as_activity(client, settings):
    settings.BROKER_SESSION_IDLE_MINUTES = 30
    make_user("viewer", username="wall.screen")
    _login(client, "/login/", "wall.screen")
    session = client.session
    seen = time.time() - 20 * 60
    session[web_security.LAST_SEEN_KEY] = seen
    session.save()

    assert client.get("/", HTTP_X_REFRESH="1").status_code == 200
    assert client.session[web_security.LAST_SEEN_KEY] == seen
    session = client.session
    session[web_security.LAST_SEEN_KEY] = time.time() - 31 * 60
    session.save()
    assert client.get("/", HTTP_X_REFRESH="1").status_code == 302  # refresh.js then reloads to the log-in page


def test_it_sets_the_session_cookie_age_from_the_idle_minutes():
    from django.conf import settings

    assert settings.SESSION_COOKIE_AGE == settings.BROKER_SESSION_IDLE_MINUTES * 60 == 30 * 60


# --- log-in throttling (django-axes) ---

@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_it_locks_a_user_name_after_repeated_failures_and_says_so(client, settings, url):
    make_user("administrator", username="target.tom")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _fail_login(client, url, "target.tom", address=f"10.2.0.{attempt + 1}")
        assert response.status_code == 200  # the form again, with its own error

    locked = _fail_login(client, url, "target.tom", address="10.2.0.99")

    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Log-in is locked after 5 failed attempts" in html
    assert "Try again in 15 minutes" in html
    # The right password does not help while the lock lasts, from another address either.
    assert _login(client, url, "target.tom", address="10.2.0.100").status_code == 429


def test_it_locks_an_address_that_tries_many_user_names(client, settings):
    make_user("viewer", username="good.gus")
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail_login(client, "/login/", f"guess{n}", address="10.3.0.66")

    assert _login(client, "/login/", "good.gus", address="10.3.0.66").status_code == 429
    # A colleague at another computer logs in as usual meanwhile.
    assert _login(client, "/login/", "good.gus", address="10.3.0.7").status_code == 302


def test_it_forgets_failures_after_a_successful_log_in(client, settings):
    make_user("viewer", username="typo.tina")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _fail_login(client, "/login/", "typo.tina")
    assert _login(client, "/login/", "typo.tina").status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _fail_login(client, "/login/", "typo.tina")
    assert _login(client, "/login/", "typo.tina").status_code == 302


# --- passwords ---

@pytest.mark.parametrize(("password", "message"), [
    ("Sh0rt!pw", "This password is too short. It must contain at least 12 characters."),
    ("password1234", "This password is too common."),
    ("839274619283", "This password is entirely numeric."),
])
def test_it_refuses_a_weak_password_for_createsuperuser_noinput(monkeypatch, password, message):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    with pytest.raises(CommandError) as refused:
        call_command("createsuperuser", "--noinput", username="chief", email="chief@example.org")
    assert "DJANGO_SUPERUSER_PASSWORD is refused" in str(refused.value)
    assert message in str(refused.value)
    assert not User.objects.filter(username="chief").exists()


def test_it_creates_a_superuser_with_a_strong_password_noinput(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "violet-harbour-lantern-42")
    call_command("createsuperuser", "--noinput", username="chief", email="chief@example.org")
    chief = User.objects.get(username="chief")
    assert chief.is_superuser and chief.check_password("violet-harbour-lantern-42")


def test_it_refuses_a_password_like_the_user_name_noinput(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "radiologychief")
    with pytest.raises(CommandError, match="too similar to the username"):
        call_command("createsuperuser", "--noinput", username="radiologychief", email="x@example.org")


def test_it_refuses_a_short_password_in_the_admin(client):
    admin = User.objects.create_superuser("root.rita", "r@example.org", PASSWORD)
    client.force_login(admin)
    target = make_user("viewer", username="new.nina")
    response = client.post(f"/admin/auth/user/{target.pk}/password/",
                           {"password1": "abc12345", "password2": "abc12345", "usable_password": "true"})
    assert response.status_code == 200
    assert "This password is too short. It must contain at least 12 characters." in response.content.decode()


# --- headers every page carries ---

@pytest.mark.parametrize("url", ["/", "/orders/", "/hl7/", "/queries/", "/problems/", "/admin/", "/admin/worklist/patient/"])
def test_it_forbids_caching_pages_with_patient_data_and_sends_the_csp(client, url):
    client.force_login(User.objects.create_superuser("root.rolf", "r@example.org", PASSWORD))
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Security-Policy"] == web_security.CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_it_sends_no_store_and_csp_on_the_login_page(client):
    response = client.get("/login/")
    assert "no-store" in response["Cache-Control"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
