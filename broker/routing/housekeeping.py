"""Housekeeping of the storage folder: partial files of killed C-STOREs, and retention.

Retention: delete a routed study's files after BROKER_RETENTION_DAYS, only once every destination has them.

An instance's file is deleted when its study completed more than the retention ago, the study has at least
one routing job, every SEND job of the study has a confirmation (DeliveredInstance) for it and every MOVE job
is DONE. Studies no rule routed are kept for staff to decide. The index row stays, with deleted_at set.
"""
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from broker.routing.models import DeliveredInstance, RoutingJob, RoutingRule, StoredInstance, Study
from broker.routing.storage import INCOMING, instance_path, storage_root

log = logging.getLogger(__name__)


def expired_instances(now=None):
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BROKER_RETENTION_DAYS)
    studies = Study.objects.filter(state=Study.State.COMPLETE, completed_at__lte=cutoff).annotate(
        job_count=Count("routing_jobs"),
        open_moves=Count("routing_jobs", filter=Q(routing_jobs__action=RoutingRule.Action.MOVE)
                         & ~Q(routing_jobs__state=RoutingJob.State.DONE)),
    ).filter(job_count__gt=0, open_moves=0)
    unconfirmed_send = RoutingJob.objects.filter(study_id=OuterRef("study_id"), action=RoutingRule.Action.SEND).exclude(
        Exists(DeliveredInstance.objects.filter(job_id=OuterRef("pk"), instance_id=OuterRef(OuterRef("pk")))))
    return StoredInstance.objects.filter(study__in=studies, deleted_at__isnull=True).exclude(Exists(unconfirmed_send))


def delete_expired_files(now=None) -> int:
    deleted = 0
    for instance in expired_instances(now).iterator():
        try:
            instance_path(instance).unlink()
        except FileNotFoundError:
            pass
        except OSError:
            log.exception("retention: cannot delete %s", instance.path)
            continue
        StoredInstance.objects.filter(pk=instance.pk).update(deleted_at=timezone.now())
        deleted += 1
    if deleted:
        log.info("retention: deleted %d routed files", deleted)
    return deleted


def remove_stale_part_files(now: float | None = None) -> int:
    """Delete storage/.incoming/*.part older than BROKER_STORAGE_PART_MAX_AGE_MINUTES: a C-STORE whose process
    was killed between writing and renaming left them; a live one renames its file within seconds."""
    cutoff = (now or time.time()) - settings.BROKER_STORAGE_PART_MAX_AGE_MINUTES * 60
    removed = 0
    for path in (storage_root() / INCOMING).glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # renamed or removed meanwhile
        except OSError:
            log.exception("housekeeping: cannot remove the stale partial file %s", path)
    if removed:
        log.warning("housekeeping: removed %d partial files left by interrupted C-STOREs", removed)
    return removed
