"""Two small tables: rows purged per kind of log, and the running totals /metrics reads instead of whole logs."""
from django.db import models


class PurgedTotal(models.Model):
    """Rows the retention purge deleted, per kind; raised in the same transaction as each batch's DELETE."""

    kind = models.CharField(max_length=32, unique=True)
    purged = models.PositiveBigIntegerField(default=0)
    last_purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.kind}: {self.purged}"


class LogTally(models.Model):
    """The aggregate of one log's rows up to `last_pk`, folded in once and kept when those rows are purged.

    `totals` maps a sample's key to its running value (e.g. "ORM^O01|AA" → messages); `/metrics` adds only the
    rows above `last_pk`, so a scrape reads the rows since the last fold, not the whole log."""

    source = models.CharField(max_length=32, unique=True)
    last_pk = models.BigIntegerField(default=0)
    totals = models.JSONField(default=dict)
    folded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.source} up to #{self.last_pk}"
