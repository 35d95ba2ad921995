"""Writing and checking the audit trail: `record` is the one way an event is written; `verify` walks the chain."""
import json
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broker.audit import events
from broker.audit.chain import GENESIS, HASHED_FIELDS, canonical, link_hash
from broker.audit.models import AuditEvent, ChainHead

log = logging.getLogger(__name__)


def _json(value):
    """What the database gives back for a JSON field: the hash is computed over exactly that."""
    return json.loads(json.dumps(value, default=str))


def record(kind: str, *, outcome: int = AuditEvent.Outcome.SUCCESS, user=None, ae: str = "", address: str = "",
           patient_ids=(), objects=(), detail: dict | None = None, always: bool = False) -> AuditEvent | None:
    """Append one event in the caller's transaction (or its own): it commits, or rolls back, with what it records.

    `user` is a Django user (its user name is kept, so the event outlives the account) or a user name; `ae` a
    DICOM AE title or an HL7 sender; `address` the peer's network address. Nothing is written with
    BROKER_AUDIT=false, but for the trail's own bookkeeping (`always`: a purge of the trail).
    """
    if not settings.BROKER_AUDIT and not always:
        return None
    user_name = getattr(user, "get_username", lambda: user)() if user is not None else ""
    values = {
        "kind": kind,
        "outcome": int(outcome),
        "actor_user": str(user_name or "")[:150],
        "actor_ae": (ae or "")[:200],
        "actor_address": (address or "")[:100],
        "patient_ids": sorted({str(p) for p in patient_ids if p}),
        "object_refs": _json(list(objects)),
        "detail": _json(detail or {}),
    }
    append = _append_in_one_statement if connection.vendor == "postgresql" else _append_through_the_orm
    if not settings.BROKER_AUDIT_SYSLOG:
        return append(values)
    from broker.audit import forwarding  # it formats with export, which records through this module

    with transaction.atomic(savepoint=False):  # the outbox row commits with the event, or neither does
        event = append(values)
        forwarding.queue(event)
    return event


def _append_through_the_orm(values: dict) -> AuditEvent:
    # savepoint=False: inside the caller's transaction no savepoint (two round trips fewer); a failure here
    # fails the caller's transaction, which is what "recorded with the work" means.
    with transaction.atomic(savepoint=False):
        # The head row is locked until this transaction ends: concurrent writers queue here, one chain.
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS})
        values["time"] = timezone.now()  # taken under the lock: times grow along the chain
        event = AuditEvent(previous_hash=head.hash, hash=link_hash(head.hash, values), **values)
        event.save(force_insert=True)
        ChainHead.objects.filter(pk=1).update(hash=event.hash, last_event_id=event.pk)
    return event


# PostgreSQL: lock the head, insert the event chained to it and move the head, in one statement (one round trip
# instead of three, and nothing for Django to compile on every HL7 message and C-FIND). The link is the same
# SHA-256 as chain.link_hash, computed by PostgreSQL over the head it locked and the canonical bytes made here;
# `audit verify` recomputes every link in Python, and tests/audit/test_audit_chain.py checks the two agree. The
# time is taken just before the statement, so under concurrency two neighbours may be microseconds out of order:
# the chain's order is the id's. FOR UPDATE in READ COMMITTED re-reads a head another writer moved meanwhile.
_APPEND = """
WITH head AS (SELECT hash FROM {head} WHERE id = 1 FOR UPDATE),
event AS (
    INSERT INTO {event} (time, kind, outcome, actor_user, actor_ae, actor_address, patient_ids, object_refs, detail,
                         previous_hash, hash)
    SELECT %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, head.hash,
           encode(sha256(convert_to(head.hash || E'\\n', 'UTF8') || %s::bytea), 'hex')
    FROM head
    RETURNING id, previous_hash, hash
)
UPDATE {head} SET hash = event.hash, last_event_id = event.id FROM event WHERE {head}.id = 1
RETURNING event.id, event.previous_hash, event.hash
"""


def _append_in_one_statement(values: dict) -> AuditEvent:
    values["time"] = timezone.now()
    sql = _APPEND.format(head=ChainHead._meta.db_table, event=AuditEvent._meta.db_table)
    params = [values["time"], values["kind"], values["outcome"], values["actor_user"], values["actor_ae"],
              values["actor_address"], json.dumps(values["patient_ids"]), json.dumps(values["object_refs"]),
              json.dumps(values["detail"]), canonical(values)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:  # the very first event: no head row yet (another writer may be making it too)
            cursor.execute(f"INSERT INTO {ChainHead._meta.db_table} (id, hash, purged_through_hash) "
                           f"VALUES (1, %s, '') ON CONFLICT (id) DO NOTHING", [GENESIS])
            cursor.execute(sql, params)
            row = cursor.fetchone()
    event_id, previous_hash, event_hash = row
    names = ["id", *HASHED_FIELDS, "previous_hash", "hash"]
    return AuditEvent.from_db(connection.alias, names, [event_id, *(values[n] for n in HASHED_FIELDS),
                                                        previous_hash, event_hash])


@dataclass
class Verification:
    checked: int
    broken_id: int | None = None
    broken_time: datetime | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return not self.reason


class NotThePrefix(Exception):
    """The retention purge may delete only the oldest events, all of them up to one: else the chain has a hole."""


def forget(ids: list[int]) -> None:
    """Before the retention purge deletes `ids` (in its transaction): they must be every event up to the newest of
    them; the chain head then names the last of them as where the kept chain starts, an event records it, and on
    PostgreSQL the append-only trigger lets this transaction's DELETE through (SET LOCAL, this transaction only)."""
    through = max(ids)
    if AuditEvent.objects.filter(pk__lte=through).count() != len(set(ids)):
        raise NotThePrefix(f"audit events {min(ids)}–{through} are not all the oldest events; nothing deleted")
    anchor = AuditEvent.objects.filter(pk=through).values_list("hash", flat=True).get()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL broker.audit_purge = 'on'")
    ChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"hash": GENESIS})
    ChainHead.objects.filter(pk=1).update(purged_through_id=through, purged_through_hash=anchor)
    record(events.AUDIT_PURGED, detail={"deleted": len(ids), "through_id": through, "through_hash": anchor}, always=True)


def verify() -> Verification:
    """Recompute every link from the first kept event on (the genesis hash, or where the retention purge left the
    chain: the head row's anchor, which the last purge event must name too); the first event whose stored hash or
    previous hash does not match is the broken link (edited, or the one after removed events). The head row must
    name the last event."""
    head = ChainHead.objects.filter(pk=1).first()
    expected_previous, checked, last = (head.purged_through_hash if head and head.purged_through_hash else GENESIS), 0, None
    if head and head.purged_through_hash:
        purge = AuditEvent.objects.filter(kind=events.AUDIT_PURGED).order_by("-id").first()
        if purge is None or purge.detail.get("through_hash") != head.purged_through_hash:
            return Verification(0, head.purged_through_id, None,
                                "the chain head's purge anchor is not the one the last purge event recorded")
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.previous_hash != expected_previous:
            return Verification(checked, event.pk, event.time,
                                "its previous hash is not the hash of the event before it (events removed or reordered)")
        if link_hash(event.previous_hash, event.hashed_values()) != event.hash:
            return Verification(checked, event.pk, event.time, "its content does not match its hash (edited)")
        expected_previous, checked, last = event.hash, checked + 1, event
    if last is not None and (head is None or head.hash != last.hash or head.last_event_id != last.pk):
        return Verification(checked, last.pk, last.time, "the chain head does not name this event: later events were removed")
    return Verification(checked)


def actor_of(request) -> dict:
    """The person behind a web request, for record(**actor_of(request))."""
    return {"user": request.user if request.user.is_authenticated else "", "address": request.META.get("REMOTE_ADDR", "")}
