"""The retention purge: expired rows deleted in primary-key batches, one short transaction each, within a budget.

Each batch selects at most BROKER_RETENTION_BATCH ids in time order, deletes them (the guard checked again in the
deleting transaction) and raises that kind's PurgedTotal in the same transaction, so /metrics counts exactly
what went. The kinds take turns batch by batch until each is done or the run's time budget is spent; the next
run carries on. A log /metrics counts is folded into its tally first and purged only up to the tally's checkpoint.
"""
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from broker.retention import tallies
from broker.retention.kinds import KINDS, Kind
from broker.retention.models import PurgedTotal

log = logging.getLogger(__name__)


@dataclass
class KindRun:
    kind: Kind
    now: datetime
    upper_pk: int | None = None  # the tally's checkpoint, for logs /metrics counts
    cursor: tuple | None = None  # (time, pk) of the last row looked at: guarded rows are passed once per run
    deleted: int = 0
    batches: int = 0
    done: bool = False

    def candidates(self):
        rows = self.kind.expired(self.now)
        if self.upper_pk is not None:
            rows = rows.filter(pk__lte=self.upper_pk)
        if self.cursor is not None:
            at, pk = self.cursor
            time_field = self.kind.time_field
            rows = rows.filter(Q(**{f"{time_field}__gt": at}) | Q(**{time_field: at, "pk__gt": pk}))
        return rows.order_by(self.kind.time_field, "pk")


@dataclass
class Summary:
    deleted: dict[str, int] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)  # kinds the time budget cut short


def purge_batch(run: KindRun, batch_size: int) -> int:
    """One batch of one kind; returns the rows deleted (marks the run done when fewer than a batch were left)."""
    kind = run.kind
    picked = list(run.candidates().values_list(kind.time_field, "pk")[:batch_size])
    if len(picked) < batch_size:
        run.done = True
    if not picked:
        return 0
    run.cursor = picked[-1]
    ids = [pk for _, pk in picked]
    with transaction.atomic():
        # The guard again, inside the deleting transaction: a row that became needed since the SELECT stays.
        rows = kind.model.objects.filter(pk__in=ids)
        rows = rows.exclude(kind.still_needed()) if kind.still_needed else rows
        if kind.before_delete:
            doomed = list(rows.values_list("pk", flat=True))
            if not doomed:
                return 0
            kind.before_delete(doomed)
            rows = kind.model.objects.filter(pk__in=doomed)
        _, per_model = rows.delete()
        deleted = per_model.get(kind.model._meta.label, 0)
        if deleted:
            PurgedTotal.objects.filter(kind=kind.name).update(purged=F("purged") + deleted, last_purged_at=run.now)
    run.deleted += deleted
    run.batches += 1
    return deleted


def run(kinds=KINDS, *, budget_seconds: float | None = None, batch_size: int | None = None,
        progress: Callable[[KindRun, int], None] | None = None) -> Summary:
    """Purge every kind with a retention period; `budget_seconds=None` runs until all are done (manage.py)."""
    batch_size = batch_size or settings.BROKER_RETENTION_BATCH
    started = time.monotonic()
    now = timezone.now()
    runs = []
    for kind in kinds:
        if not kind.days:  # 0 = kept forever
            continue
        PurgedTotal.objects.get_or_create(kind=kind.name)
        runs.append(KindRun(kind, now, upper_pk=tallies.checkpoint(kind.tally) if kind.tally else None))
    pending = list(runs)

    def out_of_time() -> bool:
        return budget_seconds is not None and time.monotonic() - started >= budget_seconds

    turn = 0
    while pending and not out_of_time():  # the kinds take turns, one batch each
        kind_run = pending[turn % len(pending)]
        deleted = purge_batch(kind_run, batch_size)
        if progress is not None:
            progress(kind_run, deleted)
        if kind_run.done:
            pending.remove(kind_run)
        else:
            turn += 1
    summary = Summary({r.kind.name: r.deleted for r in runs}, [r.kind.name for r in pending])
    if any(summary.deleted.values()) or summary.unfinished:
        log.info("retention purge deleted %s%s", ", ".join(f"{k}={n}" for k, n in summary.deleted.items()),
                 f"; budget spent before {', '.join(summary.unfinished)} finished" if summary.unfinished else "")
    return summary


def would_delete(kinds=KINDS) -> dict[str, tuple[int, int]]:
    """Per kind with a retention period: (rows expired that would go, expired rows kept because still needed)."""
    now = timezone.now()
    counts = {}
    for kind in kinds:
        if not kind.days:
            continue
        old = kind.model.objects.filter(**{f"{kind.time_field}__lt": kind.cutoff(now)}).count()
        expired = kind.expired(now).count()
        counts[kind.name] = (expired, old - expired)
    return counts
