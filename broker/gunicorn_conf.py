"""gunicorn settings for the web process (`gunicorn -c python:broker.gunicorn_conf broker.wsgi`, as runbroker runs it).

Threads, not two synchronous workers: a slow client holds one thread, not half the server. A request whose
line and headers have not arrived within BROKER_WEB_TIMEOUT seconds is cut off (slowloris, see
broker/web_worker.py), and so is an idle keep-alive connection after BROKER_WEB_KEEPALIVE. The values come
from broker/settings.py (README's configuration table); the bind address from the command line.
"""
from broker import settings
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


def post_fork(server, worker):
    # The master's SIGKILL ends its workers at once (they would otherwise notice only at their next loop turn).
    die_with_parent(server.pid)
