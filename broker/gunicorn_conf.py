"""gunicorn settings for the web process (`gunicorn -c python:broker.gunicorn_conf broker.wsgi`, as runbroker runs it).

Threads, not two synchronous workers: a slow client holds one thread, not half the server. A request whose
line and headers have not arrived within BROKER_WEB_TIMEOUT seconds is cut off (slowloris, see
broker/web_worker.py), and so is an idle keep-alive connection after BROKER_WEB_KEEPALIVE. The values come
from broker/settings.py (README's configuration table); the bind address from the command line.
"""
from broker import settings
from broker.core import tls
from broker.core.lifeline import die_with_parent

worker_class = "broker.web_worker.DeadlineThreadWorker"
workers = settings.BROKER_WEB_WORKERS
threads = settings.BROKER_WEB_THREADS
timeout = settings.BROKER_WEB_TIMEOUT
graceful_timeout = min(settings.BROKER_WEB_TIMEOUT, 10)
keepalive = settings.BROKER_WEB_KEEPALIVE
worker_connections = settings.BROKER_WEB_MAX_CONNECTIONS
backlog = 2048
# gunicorn's own limits, stated so they are visible: longer lines or more headers get a 400 at once.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl, shared by every gunicorn of the user) is not used by
# the broker: off, so no other local process can steer the web part and two brokers do not share one.
control_socket_disable = True
# The path without its query string, and no Referer: a patient search (?q=name) stays out of the access log.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(D)sus "%(a)s"'

# HTTPS served by gunicorn itself when the listeners' certificate and key are set (BROKER_TLS_CERT/_KEY): the
# same TLS 1.2+ context and BCP 195 ciphers as the DICOM and MLLP listeners. Browsers present no client
# certificate, so BROKER_TLS_CA is not asked for here. A bad file stops the web part naming the variable.
if settings.BROKER_WEB_TLS and settings.BROKER_TLS_CERT and settings.BROKER_TLS_KEY:
    tls.server_context(settings.BROKER_TLS_CERT, settings.BROKER_TLS_KEY)  # fail now, not at the first client
    certfile = settings.BROKER_TLS_CERT
    keyfile = settings.BROKER_TLS_KEY

    def ssl_context(config, default_ssl_context_factory):
        return tls.server_context(config.certfile, config.keyfile)


def post_fork(server, worker):
    # The master's SIGKILL ends its workers at once (they would otherwise notice only at their next loop turn).
    die_with_parent(server.pid)
