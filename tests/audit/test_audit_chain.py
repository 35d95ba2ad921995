"""The audit table: append-only for everyone, one linear hash chain, and `audit verify` naming a broken link."""
import threading

import pytest
from django.db import connection, connections, transaction

from broker.audit import events, trail
from broker.audit.chain import GENESIS, link_hash
from broker.audit.models import AppendOnly, AuditEvent
from tests.audit.support import verify_output
from tests.dashboard.support import make_user

pytestmark = pytest.mark.django_db


def _three():
    return [trail.record(events.LOGIN, user=f"user{i}", address="10.0.0.9", patient_ids=[f"P{i}"],
                         objects=[{"type": "order", "accession": f"A{i}"}], detail={"n": i}) for i in range(3)]


def test_it_chains_each_event_to_the_one_before():
    first, second, third = _three()
    assert first.previous_hash == GENESIS
    assert second.previous_hash == first.hash and third.previous_hash == second.hash
    stored = AuditEvent.objects.get(pk=second.pk)
    assert link_hash(stored.previous_hash, stored.hashed_values()) == stored.hash
    assert verify_output() == (0, "OK: 3 events, chain intact\n")


def test_it_writes_nothing_when_auditing_is_off(settings):
    settings.BROKER_AUDIT = False
    assert trail.record(events.LOGIN, user="someone") is None
    assert not AuditEvent.objects.exists()


def test_it_rolls_back_with_the_transaction_it_belongs_to():
    with pytest.raises(RuntimeError), transaction.atomic():
        trail.record(events.LOGIN, user="ghost")
        raise RuntimeError("the recorded work failed")
    assert not AuditEvent.objects.exists()
    assert trail.record(events.LOGIN, user="real").previous_hash == GENESIS  # the head rolled back too


def test_it_refuses_to_change_or_delete_an_event_through_the_model():
    event = _three()[0]
    event.kind = "user.logout"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).kind == events.LOGIN


def test_it_names_the_row_edited_behind_the_brokers_back():
    first, second, third = _three()
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_event_append_only")
        cursor.execute(f"UPDATE {table} SET patient_ids = %s WHERE id = %s", ['["OTHER"]', second.pk])
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_event_append_only")
    status, message = verify_output()
    assert status == 1
    assert f"BROKEN at event #{second.pk} ({AuditEvent.objects.get(pk=second.pk).time.isoformat()})" in message
    assert "does not match its hash" in message


def test_it_sees_events_removed_from_the_middle_and_from_the_end():
    first, second, third = _three()
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The outbox's foreign key to the event is checked at commit (deferred): checked at once, it leaves no
            # pending trigger event that would stop the ALTER TABLE below.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_event_append_only")
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [third.pk])
        result = trail.verify()
        assert (result.broken_id, "later events were removed" in result.reason) == (second.pk, True)
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [first.pk])
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_event_append_only")
    result = trail.verify()
    assert result.broken_id == second.pk and "removed" in result.reason


def test_postgresql_refuses_update_and_delete_itself():
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's (SQLite: the model refuses)")
    event = _three()[0]
    from django.db.utils import DatabaseError

    for statement in ("UPDATE audit_auditevent SET kind = 'x' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).kind == events.LOGIN


def test_the_admin_shows_events_but_lets_nobody_add_change_or_delete(client):
    event = _three()[0]
    client.force_login(make_user("administrator", is_superuser=True))
    assert client.get("/admin/audit/auditevent/").status_code == 200
    page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b"user0" in page.content and b'name="_save"' not in page.content
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post("/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk],
                                                    "post": "yes"}).status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain():
    errors, per_thread = [], 15

    def write(name):
        try:
            for i in range(per_thread):
                trail.record(events.LOGIN, user=f"{name}-{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    chain = list(AuditEvent.objects.order_by("id").values_list("previous_hash", "hash"))
    assert len(chain) == 4 * per_thread
    assert [previous for previous, _ in chain] == [GENESIS] + [h for _, h in chain[:-1]]
    assert trail.verify().intact


def test_administrators_read_the_trail_in_the_admin_and_operators_do_not(client):
    _three()
    client.force_login(make_user("administrator"))
    assert client.get("/admin/audit/auditevent/").status_code == 200
    client.force_login(make_user("operator"))
    assert client.get("/admin/audit/auditevent/").status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement append is PostgreSQL's")
def test_the_one_statement_append_chains_exactly_as_the_orm_does():
    """Differential: events appended alternately by PostgreSQL's one statement and by the ORM form one chain whose
    every hash is chain.link_hash over what the database stored."""
    appended = []
    for n in range(6):
        values = {"kind": events.LOGIN, "outcome": 0, "actor_user": f"u{n}", "actor_ae": "", "actor_address": "",
                  "patient_ids": [f"P{n}", "Ü"], "object_refs": [{"type": "order", "id": n}], "detail": {"n": n, "x": "é"}}
        append = trail._append_in_one_statement if n % 2 else trail._append_through_the_orm
        appended.append(append(values))
    stored = list(AuditEvent.objects.order_by("pk"))
    assert [e.pk for e in stored] == [e.pk for e in appended]
    previous = GENESIS
    for returned, event in zip(appended, stored, strict=True):
        assert event.previous_hash == previous == returned.previous_hash
        assert event.hash == link_hash(previous, event.hashed_values()) == returned.hash
        previous = event.hash
    assert trail.verify().intact
