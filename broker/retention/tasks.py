"""The worker's periodic retention purge (CELERY_BEAT_SCHEDULE "log-retention")."""
from celery import shared_task
from django.conf import settings

from broker.retention import purge


@shared_task(name="broker.retention.tasks.purge_expired", ignore_result=True)
def purge_expired() -> dict:
    """Delete the logs' expired rows within BROKER_RETENTION_RUN_SECONDS; safe to run twice or side by side."""
    summary = purge.run(budget_seconds=settings.BROKER_RETENTION_RUN_SECONDS)
    return {"deleted": summary.deleted, "unfinished": summary.unfinished}
