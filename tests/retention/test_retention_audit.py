"""The audit trail under retention: only the start of the chain goes, the chain still verifies from where the purge
left it, the purge is itself an event, and what is removed behind the broker's back is still found."""
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from broker.audit import events, trail
from broker.audit.models import AuditEvent, ChainHead
from broker.retention import kinds, purge
from broker.retention.models import PurgedTotal

pytestmark = pytest.mark.django_db(transaction=True)


def recorded_days_ago(days: float, count: int) -> list[AuditEvent]:
    when = timezone.now() - timedelta(days=days)
    with mock.patch("broker.audit.trail.timezone.now", return_value=when):
        return [trail.record(events.BROKER_START, detail={"n": n}) for n in range(count)]


def delete_behind_the_brokers_back(pk: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL broker.audit_purge = 'on'")
        cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [pk])


def test_it_purges_the_oldest_events_and_the_chain_still_verifies(settings):
    settings.BROKER_RETENTION_AUDIT_DAYS = 365
    old = recorded_days_ago(400, 5)
    kept = recorded_days_ago(10, 3)

    summary = purge.run(kinds.by_name(["audit"]), batch_size=2)  # three batches for the five

    assert summary.deleted["audit"] == 5
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    purges = list(AuditEvent.objects.filter(kind=events.AUDIT_PURGED).order_by("pk"))
    assert [p.detail["deleted"] for p in purges] == [2, 2, 1]
    assert purges[-1].detail["through_id"] == old[-1].pk
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept} | {p.pk for p in purges}
    head = ChainHead.objects.get(pk=1)
    assert (head.purged_through_id, head.purged_through_hash) == (old[-1].pk, old[-1].hash)
    assert trail.verify().intact
    assert PurgedTotal.objects.get(kind="audit").purged == 5


def test_it_keeps_the_newest_event_however_old_and_never_cuts_a_hole():
    only = recorded_days_ago(5000, 2)
    assert purge.run(kinds.by_name(["audit"])).deleted["audit"] == 1  # the newest stays: the head names it
    assert AuditEvent.objects.filter(pk=only[1].pk).exists() and trail.verify().intact
    with pytest.raises(trail.NotThePrefix), transaction.atomic():
        trail.forget([only[1].pk + 1])  # an event that is not the start of the chain: nothing is deleted


def test_audit_verify_still_finds_an_event_removed_after_a_purge(settings, capsys):
    settings.BROKER_RETENTION_AUDIT_DAYS = 365
    recorded_days_ago(400, 3)
    kept = recorded_days_ago(10, 3)
    purge.run(kinds.by_name(["audit"]))
    delete_behind_the_brokers_back(kept[0].pk)  # the first kept one: it looks like another purge

    with pytest.raises(SystemExit) as exit_status:
        call_command("audit", "verify")

    assert exit_status.value.code == 1
    assert f"BROKEN at event #{kept[1].pk}" in capsys.readouterr().err
