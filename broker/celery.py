"""The Celery application; tasks live in the apps that own them."""
import os

from celery import Celery, signals

from broker.core.lifeline import die_with_parent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")

app = Celery("broker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_init.connect
@signals.beat_embedded_init.connect
def _die_with_the_worker(**_):
    # A pool process or the embedded beat of a worker killed with SIGKILL stops too (broker/core/lifeline.py).
    die_with_parent()
