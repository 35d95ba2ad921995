"""The web-side settings as the broker reads them at start-up (broker/settings.py): what each value turns on,
and a bad value stopping start-up with a message that names the variable."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import broker.settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "getattr(s, 'SECURE_PROXY_SSL_HEADER', None), s.SESSION_COOKIE_AGE)")


def _settings(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "DATABASE_URL"))}
    environment.update({"BROKER_DATA_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=60)


def test_it_leaves_cookies_plain_and_hsts_off_without_tls(tmp_path):
    assert _settings(tmp_path).stdout.split() == ["False", "False", "0", "None", "1800"]


def test_it_turns_on_secure_cookies_and_hsts_with_the_certificate_settings(tmp_path):
    shown = _settings(tmp_path, BROKER_TLS_CERT="/etc/broker/tls.pem", BROKER_TLS_KEY="/etc/broker/tls.key")
    assert shown.stdout.split() == ["True", "True", "31536000", "None", "1800"]


def test_it_trusts_a_proxys_scheme_header_when_told(tmp_path):
    shown = _settings(tmp_path, BROKER_WEB_TLS="true", BROKER_WEB_PROXY_SSL_HEADER="X-Forwarded-Proto",
                      BROKER_SESSION_IDLE_MINUTES="10")
    assert shown.stdout.split() == ["True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO',", "'https')", "600"]


@pytest.mark.parametrize(("env", "message"), [
    ({"BROKER_WEB_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "BROKER_WEB_PROXY_SSL_HEADER='X-Forwarded-Proto: https'"),
    ({"BROKER_SESSION_IDLE_MINUTES": "0"}, "BROKER_SESSION_IDLE_MINUTES=0: give 1 or more minutes"),
    ({"BROKER_WEB_TLS": "maybe"}, "BROKER_WEB_TLS='maybe' is not a boolean"),
    ({"BROKER_LOG_PHI": "sometimes"}, "BROKER_LOG_PHI='sometimes' is not a boolean"),
])
def test_it_stops_start_up_naming_a_bad_value(tmp_path, env, message):
    shown = _settings(tmp_path, **env)
    assert shown.returncode != 0
    assert message in shown.stderr
