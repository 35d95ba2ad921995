"""The retention purge on real rows: expired rows go, recent and still-needed rows stay, in bounded batches."""
import pytest
from pydicom.uid import generate_uid

from broker.dicom.models import WorklistQuery
from broker.hl7.models import HL7Message
from broker.retention import kinds, purge
from broker.retention.models import PurgedTotal
from mpps.models import MppsRequest
from tests.dashboard.support import make_hl7_message, make_performed_step, make_query, scheduled_order
from tests.retention.support import age

pytestmark = pytest.mark.django_db


def remaining(model) -> set[int]:
    return set(model.objects.values_list("pk", flat=True))


def test_it_deletes_accepted_hl7_messages_past_the_period_and_keeps_recent_ones(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    old = age(make_hl7_message("AA"), 31)
    recent = age(make_hl7_message("AA"), 29)
    new = make_hl7_message("AA")
    summary = purge.run()
    assert summary.deleted["hl7"] == 1
    assert remaining(HL7Message) == {recent.pk, new.pk}
    assert old.pk not in remaining(HL7Message)
    assert PurgedTotal.objects.get(kind="hl7").purged == 1


def test_it_keeps_rejected_messages_nobody_replayed_and_the_replay_of_a_kept_original(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    unresolved = age(make_hl7_message("AE"), 200)
    replay = age(make_hl7_message("AA"), 120)
    replayed = age(make_hl7_message("AR", replayed_as=replay), 121)
    purge.run()
    # The replayed original goes; its replay could go only after it (else the original would look unreplayed).
    assert remaining(HL7Message) == {unresolved.pk, replay.pk}
    assert replayed.pk not in remaining(HL7Message)
    purge.run()
    assert remaining(HL7Message) == {unresolved.pk}


def test_it_keeps_the_latest_message_of_an_open_order_and_not_of_a_closed_one(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    open_order, _ = scheduled_order()
    closed_order, _ = scheduled_order(status="COMPLETED")
    first = age(make_hl7_message("AA", order=open_order), 90)
    latest = age(make_hl7_message("AA", order=open_order), 60)
    closed_first = age(make_hl7_message("AA", order=closed_order), 90)
    closed_latest = age(make_hl7_message("AA", order=closed_order), 60)
    purge.run()
    kept = remaining(HL7Message)
    assert latest.pk in kept
    assert not kept & {first.pk, closed_first.pk, closed_latest.pk}
    assert open_order.hl7_messages.get().pk == latest.pk


def test_it_keeps_the_journal_of_an_mpps_in_progress(settings):
    settings.BROKER_RETENTION_MPPS_JOURNAL_DAYS = 30
    running = make_performed_step()
    done = make_performed_step(status="COMPLETED")
    linked = age(MppsRequest.objects.create(operation="N-CREATE", sop_instance_uid=running.sop_instance_uid,
                                            performed_step=running), 60)
    refused_set = age(MppsRequest.objects.create(operation="N-SET", sop_instance_uid=running.sop_instance_uid,
                                                 status=0x0106, error_comment="bad value"), 59)
    finished = age(MppsRequest.objects.create(operation="N-CREATE", sop_instance_uid=done.sop_instance_uid,
                                              performed_step=done), 60)
    stray = age(MppsRequest.objects.create(operation="N-SET", sop_instance_uid=generate_uid(), status=0x0112), 60)
    recent = MppsRequest.objects.create(operation="N-SET", sop_instance_uid=done.sop_instance_uid, performed_step=done)
    summary = purge.run()
    assert summary.deleted["mpps_journal"] == 2
    assert remaining(MppsRequest) == {linked.pk, refused_set.pk, recent.pk}
    assert not remaining(MppsRequest) & {finished.pk, stray.pk}


def test_it_deletes_worklist_queries_past_their_own_period(settings):
    settings.BROKER_RETENTION_QUERIES_DAYS = 7
    settings.BROKER_RETENTION_HL7_DAYS = 180
    old_query = age(make_query(), 8)
    kept_query = age(make_query(), 6)
    message = age(make_hl7_message("AA"), 8)  # within the HL7 period
    summary = purge.run()
    assert summary.deleted == {"hl7": 0, "queries": 1, "mpps_journal": 0, "audit": 0}
    assert remaining(WorklistQuery) == {kept_query.pk}
    assert old_query.pk not in remaining(WorklistQuery)
    assert message.pk in remaining(HL7Message)


def test_it_keeps_a_kind_forever_at_zero_days(settings):
    settings.BROKER_RETENTION_QUERIES_DAYS = 0
    query = age(make_query(), 3000)
    summary = purge.run()
    assert "queries" not in summary.deleted
    assert query.pk in remaining(WorklistQuery)


def test_it_deletes_in_batches_no_larger_than_the_batch_size(settings):
    settings.BROKER_RETENTION_QUERIES_DAYS = 30
    WorklistQuery.objects.bulk_create([WorklistQuery(calling_ae="CT01", match_count=1, duration_ms=3) for _ in range(2500)])
    WorklistQuery.objects.update(received_at="2000-01-01T00:00:00Z")
    keep = make_query()
    batches = []
    summary = purge.run(kinds.by_name(["queries"]), batch_size=1000,
                        progress=lambda kind_run, deleted: batches.append(deleted))
    assert batches == [1000, 1000, 500]
    assert summary.deleted == {"queries": 2500}
    assert remaining(WorklistQuery) == {keep.pk}
    assert PurgedTotal.objects.get(kind="queries").purged == 2500


def test_it_stops_when_its_time_budget_is_spent_and_the_next_run_carries_on(settings, monkeypatch):
    settings.BROKER_RETENTION_QUERIES_DAYS = 30
    WorklistQuery.objects.bulk_create([WorklistQuery(calling_ae="CT01") for _ in range(30)])
    WorklistQuery.objects.update(received_at="2000-01-01T00:00:00Z")
    clock = iter(range(0, 10_000, 10))  # each look at the clock: 10 s later
    monkeypatch.setattr(purge.time, "monotonic", lambda: next(clock))
    summary = purge.run(kinds.by_name(["queries"]), batch_size=10, budget_seconds=25)
    assert summary.deleted == {"queries": 20}
    assert summary.unfinished == ["queries"]
    assert WorklistQuery.objects.count() == 10
    monkeypatch.undo()
    assert purge.run(kinds.by_name(["queries"]), batch_size=10).deleted == {"queries": 10}
    assert WorklistQuery.objects.count() == 0


def test_it_fills_each_batch_with_expired_rows_past_the_guarded_ones(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    guarded = [age(make_hl7_message("AR"), 300 - n) for n in range(5)]
    expired = [age(make_hl7_message("AA"), 200 - n) for n in range(7)]
    batches = []
    purge.run(kinds.by_name(["hl7"]), batch_size=3, progress=lambda kind_run, deleted: batches.append(deleted))
    # 12 old rows, 5 of them still needed and older than the rest: batches hold only rows that go.
    assert batches == [3, 3, 1]
    assert remaining(HL7Message) == {row.pk for row in guarded}
    assert not remaining(HL7Message) & {row.pk for row in expired}


def test_it_lists_what_it_would_delete_without_deleting(settings):
    settings.BROKER_RETENTION_HL7_DAYS = 30
    age(make_hl7_message("AA"), 40)
    age(make_hl7_message("AR"), 40)
    make_hl7_message("AA")
    counts = purge.would_delete(kinds.by_name(["hl7"]))
    assert counts == {"hl7": (1, 1)}
    assert HL7Message.objects.count() == 3
