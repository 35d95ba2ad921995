"""Running totals of the HL7 message log and the worklist query log, so /metrics never scans a whole log.

Rows are folded into a LogTally by primary key: once a row is older than BROKER_METRICS_SETTLE_SECONDS (its
transaction has committed by then), it and every row below it are added to the totals and the checkpoint moves
past them. A scrape reads the tally and aggregates only the rows above the checkpoint, so its cost follows the
rows of the last few minutes, not the size of the log. The purge deletes only rows below the checkpoint, so a
counter never goes down when its rows go. The insert path writes nothing extra.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from broker.dicom.models import WorklistQuery
from broker.hl7.intake import HANDLERS
from broker.hl7.models import HL7Message
from broker.retention.models import LogTally

HL7_MESSAGE_TYPES = frozenset(f"{code}^{event}" for code, event in HANDLERS)
ACK_CODES = frozenset(HL7Message.Outcome.values)
log = logging.getLogger(__name__)
# Upper bounds (seconds) of the worklist query latency histogram.
QUERY_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Source:
    """A log whose rows /metrics counts: the model and how a set of its rows adds up (a dict of sums)."""

    name: str
    model: type
    aggregate: Callable[[QuerySet], dict]


def hl7_label_key(message_type: str, outcome: str) -> str:
    # Labels from a fixed set: what a sender puts in MSH-9 must not mint new time series.
    message_type = message_type if message_type in HL7_MESSAGE_TYPES else "other"
    return f"{message_type}|{outcome if outcome in ACK_CODES else 'other'}"


def _hl7_aggregate(rows: QuerySet) -> dict:
    # Counted here, not by GROUP BY: SQLite would serve a GROUP BY from the (message_type, outcome) index and so
    # read the whole log instead of the primary-key range asked for.
    totals: dict[str, int] = {}
    for message_type, outcome in rows.values_list("message_type", "outcome").iterator(chunk_size=5000):
        key = hl7_label_key(message_type, outcome)
        totals[key] = totals.get(key, 0) + 1
    return totals


def _query_aggregate(rows: QuerySet) -> dict:
    buckets = {f"le_{i}": Count("pk", filter=Q(duration_ms__lte=bound * 1000)) for i, bound in enumerate(QUERY_LATENCY_BUCKETS)}
    totals = rows.aggregate(count=Count("pk"), duration_total_ms=Sum("duration_ms"), matches_total=Sum("match_count"),
                            failed=Count("pk", filter=~Q(status=0)), **buckets)
    return {key: value or 0 for key, value in totals.items()}


HL7 = Source("hl7", HL7Message, _hl7_aggregate)
QUERIES = Source("queries", WorklistQuery, _query_aggregate)
SOURCES = (HL7, QUERIES)


def added(totals: dict, more: dict) -> dict:
    result = dict(totals)
    for key, value in more.items():
        result[key] = result.get(key, 0) + value
    return result


def fold(source: Source) -> LogTally:
    """Add the settled rows above the checkpoint to the tally; returns the tally as it now stands."""
    tally = LogTally.objects.filter(source=source.name).first() or _new_tally(source)
    if tally.pk is None:
        return tally
    newer = source.model.objects.filter(pk__gt=tally.last_pk)
    cutoff = timezone.now() - timedelta(seconds=settings.BROKER_METRICS_SETTLE_SECONDS)
    bounds = newer.aggregate(first_unsettled=Min("pk", filter=Q(received_at__gte=cutoff)), last=Max("pk"))
    upper = bounds["last"] if bounds["first_unsettled"] is None else bounds["first_unsettled"] - 1
    if upper is None or upper <= tally.last_pk:
        return tally
    totals = added(tally.totals, source.aggregate(newer.filter(pk__lte=upper)))
    try:
        with transaction.atomic():
            # Conditional on the checkpoint read: of two scrapes folding at once only one counts the rows.
            claimed = LogTally.objects.filter(pk=tally.pk, last_pk=tally.last_pk).update(
                last_pk=upper, totals=totals, folded_at=timezone.now())
    except DatabaseError as exc:  # e.g. SQLite busy: the rows stay above the checkpoint, counted live this time
        log.warning("could not fold the %s log into its running totals: %s", source.name, exc)
        return tally
    return LogTally.objects.get(pk=tally.pk) if not claimed else LogTally(
        pk=tally.pk, source=source.name, last_pk=upper, totals=totals)


def _new_tally(source: Source) -> LogTally:
    try:
        with transaction.atomic():
            return LogTally.objects.get_or_create(source=source.name)[0]
    except DatabaseError as exc:  # counted live from the first row until a later scrape can write
        log.warning("could not start the running totals of the %s log: %s", source.name, exc)
        return LogTally(source=source.name)


def current(source: Source) -> dict:
    """The totals over every row ever logged (also those purged since): the tally plus the rows above it."""
    tally = fold(source)
    return added(tally.totals, source.aggregate(source.model.objects.filter(pk__gt=tally.last_pk)))


def checkpoint(source: Source) -> int:
    """The highest primary key already counted (rows up to it may be purged); folds first."""
    return fold(source).last_pk
