"""/metrics across a purge, scraped as Prometheus does (bearer token): log counters stay, purged counters rise."""
import sqlite3

import psycopg
import pytest
from django.db import connection

from broker.dicom.models import WorklistQuery
from broker.hl7.models import HL7Message
from broker.retention import purge, tallies
from broker.retention.models import LogTally
from tests.dashboard.support import make_hl7_message, make_query
from tests.retention.support import age, scrape

pytestmark = pytest.mark.django_db

ORM_AA = 'broker_hl7_messages_total{message_type="ORM^O01",ack_code="AA"}'
ORM_AR = 'broker_hl7_messages_total{message_type="ORM^O01",ack_code="AR"}'
QUERIES_OK = 'broker_worklist_queries_total{outcome="success"}'
QUERIES_FAILED = 'broker_worklist_queries_total{outcome="failure"}'


def test_it_reports_every_kind_purged_at_zero_before_the_first_purge(client):
    samples = scrape(client)
    for kind in ("hl7", "queries", "mpps_journal", "audit"):
        assert samples[f'broker_retention_purged_total{{kind="{kind}"}}'] == 0


def test_it_keeps_the_log_counters_when_their_rows_are_purged(client, settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    settings.BROKER_RETENTION_QUERIES_DAYS = 30
    for _ in range(4):
        age(make_hl7_message("AA"), 40)
    age(make_hl7_message("AR"), 40)  # unresolved: kept
    make_hl7_message("AA")
    for duration in (3, 40):
        age(make_query(duration_ms=duration), 40)
    age(make_query(duration_ms=700, status=0xC000, match_count=0), 40)
    make_query(duration_ms=8)
    before = scrape(client)
    assert before[ORM_AA] == 5 and before[ORM_AR] == 1
    assert before[QUERIES_OK] == 3 and before[QUERIES_FAILED] == 1

    summary = purge.run()
    assert summary.deleted["hl7"] == 4 and summary.deleted["queries"] == 3
    assert HL7Message.objects.count() == 2 and WorklistQuery.objects.count() == 1

    after = scrape(client)
    for name, value in before.items():
        if name.startswith(("broker_hl7_messages_total", "broker_worklist_query")):
            assert after[name] == value, name
    assert after['broker_worklist_query_duration_seconds_bucket{le="0.005"}'] == 1
    assert after["broker_worklist_query_duration_seconds_sum"] == pytest.approx(0.751)
    assert after['broker_retention_purged_total{kind="hl7"}'] == before['broker_retention_purged_total{kind="hl7"}'] + 4
    assert after['broker_retention_purged_total{kind="queries"}'] == 3

    make_hl7_message("AA")
    make_query(status=0xA900)
    later = scrape(client)
    assert later[ORM_AA] == 6
    assert later[QUERIES_FAILED] == 2


def test_it_counts_rows_purged_before_any_scrape(client, settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    for _ in range(3):
        age(make_hl7_message("AA", message_type="ADT^A08"), 40)
    assert purge.run().deleted["hl7"] == 3
    samples = scrape(client)
    assert samples['broker_hl7_messages_total{message_type="ADT^A08",ack_code="AA"}'] == 3
    assert samples['broker_retention_purged_total{kind="hl7"}'] == 3


def test_it_leaves_rows_of_the_last_minutes_out_of_the_totals_and_counts_them_live(client, settings):
    settings.BROKER_METRICS_SETTLE_SECONDS = 300
    settled = age(make_hl7_message("AA"), 1)
    fresh = make_hl7_message("AA")
    assert scrape(client)[ORM_AA] == 2
    tally = LogTally.objects.get(source="hl7")
    assert tally.last_pk == settled.pk < fresh.pk
    assert tally.totals == {"ORM^O01|AA": 1}


def test_it_counts_each_row_once_however_often_it_is_scraped_or_folded(client):
    for _ in range(3):
        age(make_query(), 1)
    tallies.fold(tallies.QUERIES)
    tallies.fold(tallies.QUERIES)
    make_query()
    assert scrape(client)[QUERIES_OK] == 4
    assert scrape(client)[QUERIES_OK] == 4
    assert LogTally.objects.get(source="queries").totals["count"] == 3


def test_it_never_purges_rows_a_tally_has_not_counted(settings):
    """A row below the settle time is folded before it may go: purging cannot outrun the counter."""
    settings.BROKER_RETENTION_QUERIES_DAYS = 1
    settings.BROKER_METRICS_SETTLE_SECONDS = 10 * 86400  # rows of the last 10 days are not folded yet
    query = age(make_query(), 2)
    assert purge.run().deleted["queries"] == 0
    assert WorklistQuery.objects.filter(pk=query.pk).exists()
    settings.BROKER_METRICS_SETTLE_SECONDS = 300
    assert purge.run().deleted["queries"] == 1
    assert LogTally.objects.get(source="queries").totals["count"] == 1


@pytest.fixture
def tally_locked_by_another_writer(transactional_db):
    """Another connection holds what a fold must write (SQLite: the database's write lock; PostgreSQL: the tally
    row), and this connection gives up waiting after 0.2 s instead of the production timeouts."""
    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout=200")

        def lock():
            other.execute("BEGIN IMMEDIATE")
    else:
        conf = connection.settings_dict
        other = psycopg.connect(host=conf["HOST"] or "127.0.0.1", port=conf["PORT"] or 5432, user=conf["USER"],
                                dbname=conf["NAME"], autocommit=False)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")

        def lock():
            other.execute("SELECT * FROM retention_logtally FOR UPDATE")
    yield lock
    other.rollback()
    other.close()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout=30000" if connection.vendor == "sqlite" else "SET lock_timeout = 0")


def test_it_still_answers_with_the_right_counts_when_the_totals_cannot_be_written(client, tally_locked_by_another_writer,
                                                                                   caplog):
    age(make_hl7_message("AA"), 2)
    assert scrape(client)[ORM_AA] == 1  # the tallies exist and hold that row
    age(make_hl7_message("AA"), 1)
    make_hl7_message("AA")
    tally_locked_by_another_writer()
    assert scrape(client)[ORM_AA] == 3
    assert "could not fold the hl7 log into its running totals" in caplog.text
    assert LogTally.objects.get(source="hl7").totals == {"ORM^O01|AA": 1}
