"""manage.py purge, the worker's beat entry and the retention settings."""
import os
import subprocess
import sys
from io import StringIO

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command

from broker.celery import app
from broker.hl7.models import HL7Message
from broker.retention.models import PurgedTotal
from broker.retention.tasks import purge_expired
from tests.dashboard.support import make_hl7_message, make_query
from tests.retention.support import age
from tests.routing.support import CeleryWorker
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_it_prints_what_a_dry_run_would_delete_and_deletes_nothing(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    settings.BROKER_RETENTION_QUERIES_DAYS = 30
    for _ in range(3):
        age(make_hl7_message("AA"), 31)
    age(make_hl7_message("AE"), 31)
    age(make_query(), 31)
    out = StringIO()
    call_command("purge", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "hl7: would delete 3 row(s) older than 30 days; 1 as old kept (still needed)" in text
    assert "queries: would delete 1 row(s) older than 30 days; 0 as old kept" in text
    assert "mpps_journal: would delete 0 row(s)" in text
    assert HL7Message.objects.count() == 4
    assert not PurgedTotal.objects.filter(purged__gt=0).exists()


def test_it_purges_one_kind_and_shows_its_progress(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    settings.BROKER_RETENTION_BATCH = 2
    for _ in range(3):
        age(make_hl7_message("AA"), 31)
    query = age(make_query(), 3000)
    out = StringIO()
    call_command("purge", "--kind", "hl7", stdout=out)
    lines = out.getvalue().splitlines()
    assert "hl7: batch 1, 2 deleted, 2 so far" in lines
    assert "hl7: batch 2, 1 deleted, 3 so far" in lines
    assert "hl7: deleted 3 row(s)" in lines
    assert HL7Message.objects.count() == 0
    assert query.__class__.objects.filter(pk=query.pk).exists()


def test_it_says_a_kind_kept_forever(settings):
    settings.BROKER_RETENTION_MPPS_JOURNAL_DAYS = 0
    out = StringIO()
    call_command("purge", "--dry-run", "--kind", "mpps_journal", stdout=out)
    assert "mpps_journal: kept forever (BROKER_RETENTION_MPPS_JOURNAL_DAYS=0)" in out.getvalue()


def test_the_worker_beat_runs_the_purge_task():
    entry = django_settings.CELERY_BEAT_SCHEDULE["log-retention"]
    assert entry["task"] == "broker.retention.tasks.purge_expired"
    assert entry["schedule"] == django_settings.BROKER_RETENTION_INTERVAL_SECONDS
    app.loader.import_default_modules()
    assert "broker.retention.tasks.purge_expired" in app.tasks


def test_the_task_purges_within_its_budget(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    age(make_hl7_message("AA"), 31)
    result = purge_expired.apply().get()
    assert result == {"deleted": {"hl7": 1, "queries": 0, "mpps_journal": 0, "audit": 0}, "unfinished": []}
    assert HL7Message.objects.count() == 0


@pytest.mark.parametrize("name, value, message", [
    ("BROKER_RETENTION_HL7_DAYS", "3", "BROKER_RETENTION_HL7_DAYS=3: give 0 (keep forever) or at least 7 days"),
    ("BROKER_RETENTION_MPPS_JOURNAL_DAYS", "6", "at least 7 days"),
    ("BROKER_RETENTION_QUERIES_DAYS", "-1", "at least 1 days"),
    ("BROKER_RETENTION_AUDIT_DAYS", "many", "is not a whole number"),
    ("BROKER_RETENTION_BATCH", "0", "BROKER_RETENTION_BATCH must be 1 or more"),
])
def test_a_bad_retention_setting_stops_start_up_naming_it(name, value, message, tmp_path):
    env = {**os.environ, name: value, "BROKER_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", "import broker.settings"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_defaults_keep_the_audit_trail_longest():
    days = [django_settings.BROKER_RETENTION_HL7_DAYS, django_settings.BROKER_RETENTION_QUERIES_DAYS,
            django_settings.BROKER_RETENTION_MPPS_JOURNAL_DAYS]
    assert django_settings.BROKER_RETENTION_AUDIT_DAYS > max(days)


@pytest.mark.slow
@pytest.mark.redis
def test_a_real_worker_with_beat_purges_expired_rows(redis_url, database_url_for_subprocess, storage_dir, tmp_path):
    redis.Redis.from_url(redis_url).flushdb()  # our own db number: drop messages of earlier runs
    expired = age(make_hl7_message("AA"), 31)
    unresolved = age(make_hl7_message("AR"), 31)
    recent = make_hl7_message("AA")
    worker = CeleryWorker(redis_url, database_url_for_subprocess, tmp_path,
                          {"BROKER_RETENTION_HL7_DAYS": "30", "BROKER_RETENTION_INTERVAL_SECONDS": "1"}).start()
    try:
        wait_until(lambda: not HL7Message.objects.filter(pk=expired.pk).exists(), 30, message="the beat's purge")
    finally:
        worker.stop()
    assert set(HL7Message.objects.values_list("pk", flat=True)) == {unresolved.pk, recent.pk}
    assert PurgedTotal.objects.get(kind="hl7").purged == 1
