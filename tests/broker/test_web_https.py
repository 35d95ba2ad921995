"""The web process as runbroker starts it (gunicorn, broker/gunicorn_conf.py) serving HTTPS itself.

A real gunicorn with a certificate made by the test; a real TLS client sees the cookie flags, HSTS, the
refusal of old protocol versions, and the access log without the query strings of patient searches.
"""
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from broker.management.commands.runbroker import child_commands
from tests.certificates import CertificateAuthority
from tests.services import free_port, port_open
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # child processes: each test starts Django again

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "violet-harbour-lantern-42"
SEARCHED_NAME = "QUIXWELLSBURY"


def _env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({"BROKER_DATA_DIR": str(data_dir), **extra})
    return env


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("web-tls")
    authority = CertificateAuthority(data_dir / "ca")
    cert, key = authority.issue("broker.example.org", subject_alt_name="DNS:localhost,IP:127.0.0.1")
    env = _env(data_dir, BROKER_TLS_CERT=str(cert), BROKER_TLS_KEY=str(key),
               DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "chief",
                    "--email", "chief@example.org"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    argv = child_commands(port)["web"]
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    log_path = data_dir / "gunicorn.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    trusting = ssl.create_default_context(cafile=str(authority.certificate))
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 60, message="gunicorn listening")
        wait_until(lambda: _answers(port, trusting), 60, interval=0.2, message="a gunicorn worker answering")
        yield {"port": port, "context": trusting, "log": log_path}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(port, context) -> bool:
    try:
        _request(port, context, "GET", "/healthz")
    except (OSError, http.client.HTTPException):
        return False
    return True


def _request(port, context, method, path, body=None, headers=None):
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def _cookie(headers, name: str) -> str:
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith(f"{name}="):
            return value
    raise AssertionError(f"no {name} cookie in {headers.get_all('Set-Cookie')}")


def _log_in(https) -> str:
    port, context = https["port"], https["context"]
    _, headers, html = _request(port, context, "GET", "/login/")
    csrf_cookie = _cookie(headers, "csrftoken").split(";")[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    status, headers, _ = _request(port, context, "POST", "/login/",
                                  body=urllib.parse.urlencode({"username": "chief", "password": PASSWORD,
                                                               "csrfmiddlewaretoken": token}),
                                  headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": csrf_cookie,
                                           "Referer": f"https://127.0.0.1:{port}/login/"})
    assert status == 302, status
    return _cookie(headers, "sessionid")


def test_it_serves_https_with_secure_cookies_and_hsts(https):
    status, headers, html = _request(https["port"], https["context"], "GET", "/login/")

    assert status == 200 and "Staff log-in" in html
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    csrf = _cookie(headers, "csrftoken")
    assert "; Secure" in csrf and "SameSite=Lax" in csrf
    session = _log_in(https)
    assert "; Secure" in session and "; HttpOnly" in session and "SameSite=Lax" in session
    assert "Max-Age=1800" in session  # BROKER_SESSION_IDLE_MINUTES=30


def _client(**options) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for name, value in options.items():
        setattr(context, name, value)
    return context


def test_it_refuses_a_client_without_a_bcp_195_cipher_and_serves_a_good_client_meanwhile(https):
    # TLS 1.2 offering only CBC ciphers (no AEAD): the server's own cipher list refuses it.
    cbc_only = _client(maximum_version=ssl.TLSVersion.TLSv1_2)
    cbc_only.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|NO_SHARED_CIPHER|handshake failure"):
        _request(https["port"], cbc_only, "GET", "/login/")

    with socket.create_connection(("127.0.0.1", https["port"]), timeout=10) as raw, \
            https["context"].wrap_socket(raw, server_hostname="127.0.0.1") as good:
        assert good.version() in ("TLSv1.2", "TLSv1.3")
    assert _request(https["port"], https["context"], "GET", "/login/")[0] == 200


def test_it_refuses_a_plain_http_request_on_the_https_port(https):
    connection = http.client.HTTPConnection("127.0.0.1", https["port"], timeout=10)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            connection.request("GET", "/login/")
            connection.getresponse().read()
    finally:
        connection.close()
    assert _request(https["port"], https["context"], "GET", "/login/")[0] == 200


def test_it_keeps_patient_searches_out_of_the_access_log(https):
    session = _log_in(https).split(";")[0]
    status, _, html = _request(https["port"], https["context"], "GET", f"/orders/?q={SEARCHED_NAME}",
                               headers={"Cookie": session, "Referer": f"https://x/orders/?q={SEARCHED_NAME}"})
    assert status == 200 and "Orders" in html
    wait_until(lambda: '"GET /orders/ HTTP/1.1" 200' in https["log"].read_text(), 10, message="access log line")

    log = https["log"].read_text()
    assert SEARCHED_NAME not in log
    assert re.search(r'"GET /orders/ HTTP/1\.1" 200 \d+', log)


def test_it_stops_the_web_part_naming_a_certificate_it_cannot_read(tmp_path):
    argv = child_commands(free_port())["web"]
    env = _env(tmp_path, BROKER_TLS_CERT=str(tmp_path / "missing.pem"), BROKER_TLS_KEY=str(tmp_path / "missing.key"))
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"BROKER_TLS_CERT {tmp_path / 'missing.pem'}: No such file or directory" in result.stdout + result.stderr
