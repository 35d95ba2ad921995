"""The one durable work queue: rows in the database are the work, Celery messages only say "look at row N".

Every kind of durable delivery (routing jobs, MPPS forwards, RIS notifications) is a model with a state
column, an attempt counter, a next-attempt time and a claim clock, and one `WorkQueue` declaration that
names them. The mechanism, the same for every kind:

- **claim**: a conditional `update()` whose row count proves the row is ours (state and attempt count
  unchanged since we read it); the row becomes RUNNING with one more attempt, the claim clock set and, where
  the model has one, the owner ("host:pid"). A row is claimable when it is waiting, failed and due (a retry
  timer may fire up to a second early), or running but lost (its clock older than the lost-after setting, or
  its owner a process on this host that no longer exists). A row in a *lane* (a sub-queue such as "this
  step's forwards to this destination") is claimable only when every earlier row of its lane is done or given
  up: an N-SET never overtakes its N-CREATE, a CM never overtakes its IP.
- **finish / fail / give up**: written only while the row is still ours (RUNNING, same attempt count): a sweep
  may have released a row its worker held too long, and a late result must not overwrite the new try.
  A failure backs off exponentially (`backoff_seconds`, the one formula) and says so in `last_error`; past
  the maximum attempts (where the kind has one) the row waits for an operator (GAVE_UP).
- **sweep**: rows RUNNING past the lost-after time (or whose owner died) go back to FAILED, due now; then
  the due ids (failed rows past their time, waiting rows older than the grace, i.e. whose message was lost)
  are re-enqueued, waiting ones touched (next_attempt_at) so the next sweep waits another grace period.

Adding a durable delivery (storage commitment report, IAN, audit forward…) is a declaration plus a send
function:

1. a model inheriting `QueuedWork` (state, attempts, last_error, next_attempt_at, claimed_at, created_at,
   sent_at), plus what is sent and to whom;
2. `QUEUE = WorkQueue(model=..., backoff_setting=..., ..., lane=(...))` naming its settings (base and
   ceiling of the backoff, lost-after, grace, optionally maximum attempts) and its lanes;
3. a send function `attempt(row) -> (error, fields)` and a task that calls `outcome = QUEUE.deliver(pk, attempt)`,
   then enqueues `outcome.next_id` (the lane's next row) and itself again after `outcome.retry_in`
   (see broker/outbound/tasks.py); a kind with more to it (routing: sending resumes, associations per
   destination) uses claim / finish / fail / give_up directly;
4. its queue in a periodic task: `QUEUE.sweep(task.delay)`.

Imports Django only, never a project app (the lowest layer).
"""
import logging
import os
import socket
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

log = logging.getLogger(__name__)

# A retry timer (Celery countdown) may fire this much before next_attempt_at and still claim the row.
EARLY_TOLERANCE = timedelta(seconds=1)


def backoff_seconds(attempts: int, base: float, ceiling: float) -> float:
    """Exponential: base, 2×base, 4×base … capped (attempts counts the one that just failed)."""
    return min(ceiling, base * 2 ** max(attempts - 1, 0))


def process_identity() -> str:
    """The owner written on a claimed row: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_gone(claimed_by: str) -> bool:
    """True when the claiming process ran on this host and no longer exists (a killed worker)."""
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's worker: only the lost-after time can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Outcome:
    """What one delivery attempt came to, for the task to act on."""

    row: object = None  # the claimed row (None: not claimed, nothing to do)
    sent: bool = False
    retry_in: float | None = None  # seconds until the next try, when it failed (None: no retry scheduled)
    next_id: int | None = None  # the next row of the same lane, now free to go
    error: str = ""


@dataclass(frozen=True)
class States:
    """The model's own values for the five states of a queued row."""

    waiting: str
    running: str
    done: str
    failed: str
    gave_up: str

    @property
    def settled(self) -> tuple[str, str]:
        """States after which a row no longer holds up its lane."""
        return (self.done, self.gave_up)


class WorkState(models.TextChoices):
    """The states of a `QueuedWork` row (older kinds, such as routing jobs, keep their own names)."""

    PENDING = "PENDING", "Waiting"
    RUNNING = "RUNNING", "Running"
    SENT = "SENT", "Delivered"
    FAILED = "FAILED", "Failed, will retry"
    GAVE_UP = "GAVE_UP", "Given up"


WORK_STATES = States(waiting=WorkState.PENDING, running=WorkState.RUNNING, done=WorkState.SENT,
                     failed=WorkState.FAILED, gave_up=WorkState.GAVE_UP)


class QueuedWork(models.Model):
    """The columns the queue works with, for a new kind of durable delivery: inherit, add what is sent."""

    state = models.CharField(max_length=8, choices=WorkState.choices, default=WorkState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)  # when a worker took it (RUNNING); the sweep's clock
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class WorkQueue:
    """One model's queue: which columns and settings the mechanism uses for it.

    The `*_setting` fields name Django settings, read at each use (tests and operators may change them)."""

    model: type[models.Model]
    backoff_setting: str  # seconds before the first retry; doubled per attempt
    backoff_max_setting: str  # the ceiling of the backoff
    lost_after_setting: str  # a RUNNING row without progress this long: its worker is taken to be lost
    pending_grace_setting: str  # a waiting row this old: its task message is taken to be lost
    max_attempts_setting: str | None = None  # None: retried until an operator gives up
    states: States = WORK_STATES
    running_since: str = "claimed_at"  # set at each claim (and by progress, where the kind reports it)
    waiting_since: str = "created_at"
    finished_at: str = "sent_at"  # set when done
    owner_field: str | None = None  # "host:pid" of the claiming process, where the model keeps it
    lane: tuple[str, ...] = ()  # fields whose values make a sub-queue, sent one row at a time
    lane_order: str = "pk"  # the order within a lane
    name: str = field(default="", compare=False)  # for log lines

    # --- settings ---------------------------------------------------------------------------------

    def _seconds(self, setting: str) -> float:
        return float(getattr(settings, setting))

    def backoff_seconds(self, attempts: int) -> float:
        return backoff_seconds(attempts, self._seconds(self.backoff_setting), self._seconds(self.backoff_max_setting))

    def lost_before(self, now):
        """A RUNNING row whose clock is older than this has lost its worker."""
        return now - timedelta(seconds=self._seconds(self.lost_after_setting))

    @property
    def label(self) -> str:
        return self.name or self.model._meta.verbose_name

    # --- lanes --------------------------------------------------------------------------------------

    def lane_of(self, row) -> models.QuerySet:
        """The rows sharing `row`'s lane (every row when the kind has no lanes)."""
        return self.model.objects.filter(**{name: getattr(row, name) for name in self.lane})

    def _before(self, row) -> Q:
        return Q(**{f"{self.lane_order}__lt": getattr(row, self.lane_order)})

    def waits_for_earlier(self, row) -> bool:
        if not self.lane:
            return False
        return self.lane_of(row).filter(self._before(row)).exclude(state__in=self.states.settled).exists()

    def next_in_lane(self, row):
        """The next waiting row of `row`'s lane, now free to go (None without lanes)."""
        if not self.lane:
            return None
        later = self.lane_of(row).exclude(self._before(row)).exclude(pk=row.pk)
        later = later.filter(state__in=[self.states.waiting, self.states.failed])
        return later.order_by(self.lane_order, "pk").first()

    # --- claim --------------------------------------------------------------------------------------

    def _lost(self, row, now) -> bool:
        clock = getattr(row, self.running_since)
        if clock is None or clock < self.lost_before(now):
            return True
        owner = getattr(row, self.owner_field) if self.owner_field else ""
        return bool(owner) and owner_is_gone(owner)

    def claimable(self, row, now=None) -> bool:
        now = now or timezone.now()
        states = self.states
        if row.state == states.waiting:
            ready = True
        elif row.state == states.failed:
            ready = row.next_attempt_at is None or row.next_attempt_at <= now + EARLY_TOLERANCE
        elif row.state == states.running:
            ready = self._lost(row, now)
        else:
            ready = False
        return ready and not self.waits_for_earlier(row)

    def claim(self, pk: int, *, admit: Callable[[models.Model], bool] | None = None,
              select_related: tuple[str, ...] = ()):
        """Take the row for this run (RUNNING, one more attempt) or None: taken, finished, not due, not first.

        `admit(row)`, called inside the claim's transaction, may refuse a claimable row (e.g. the destination
        has its maximum associations); it does its own re-enqueueing."""
        now = timezone.now()
        # One transaction only where admit() locks something: a read-then-write transaction on SQLite can
        # meet SQLITE_BUSY at the write, which the busy timeout does not retry.
        with transaction.atomic() if admit is not None else nullcontext():
            row = self.model.objects.filter(pk=pk).first()
            if row is None or not self.claimable(row, now):
                return None
            if admit is not None and not admit(row):
                return None
            fields = {"state": self.states.running, "attempts": F("attempts") + 1, self.running_since: now}
            if self.owner_field:
                fields[self.owner_field] = process_identity()
            won = self.model.objects.filter(pk=pk, state=row.state, attempts=row.attempts).update(**fields)
        if not won:
            return None  # another run claimed it between our read and our update
        return self.model.objects.select_related(*select_related).get(pk=pk)

    # --- the outcome of a run -----------------------------------------------------------------------

    def still_ours(self, row) -> models.QuerySet:
        return self.model.objects.filter(pk=row.pk, state=self.states.running, attempts=row.attempts)

    def finish(self, row, **fields) -> bool:
        """DONE, if the row is still ours; False means a sweep released it meanwhile (the result is dropped)."""
        fields.update({"state": self.states.done, "next_attempt_at": None, self.finished_at: timezone.now()})
        return bool(self.still_ours(row).update(**fields))

    def fail(self, row, error: str, **fields) -> float | None:
        """FAILED with a backoff (or GAVE_UP past the maximum attempts); returns the delay before the retry.

        None: given up, or the row was not ours any more."""
        maximum = getattr(settings, self.max_attempts_setting) if self.max_attempts_setting else None
        if maximum is not None and row.attempts >= maximum:
            self.give_up(row, f"{error} (after {row.attempts} attempts)", **fields)
            return None
        delay = self.backoff_seconds(row.attempts)
        next_attempt_at = timezone.now() + timedelta(seconds=delay)
        # Staff read this as it is: what happened, and when the broker tries again (department time).
        error = f"{error[:1900]}; will retry at {timezone.localtime(next_attempt_at):%Y-%m-%d %H:%M:%S}"
        updated = self.still_ours(row).update(state=self.states.failed, last_error=error,
                                              next_attempt_at=next_attempt_at, **fields)
        return delay if updated else None

    def give_up(self, row, error: str, **fields) -> bool:
        """GAVE_UP (waits for an operator), if the row is still ours."""
        return bool(self.still_ours(row).update(state=self.states.gave_up, last_error=error[:2000],
                                                next_attempt_at=None, **fields))

    def deliver(self, pk: int, attempt: Callable[[models.Model], tuple[str, dict]]) -> Outcome:
        """Claim the row, make one attempt, record the outcome: the whole of a delivery task but the sending.

        `attempt(row)` returns (error, fields): "" when the receiver has it, else what staff should read;
        `fields` are written with the outcome (the peer's answer). An exception is a failed attempt, retried."""
        row = self.claim(pk)
        if row is None:
            return Outcome()
        try:
            error, fields = attempt(row)
        except Exception as exc:  # network errors of every kind: retried, never lost
            error, fields = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, {}
        if not error:
            self.finish(row, **fields)
            log.info("%s: %s delivered (attempt %s)", self.label, row, row.attempts)
            following = self.next_in_lane(row)
            return Outcome(row=row, sent=True, next_id=following.pk if following else None)
        retry_in = self.fail(row, error, **fields)
        log.warning("%s: %s failed (attempt %s): %s; %s", self.label, row, row.attempts, error,
                    f"next try in {retry_in:g} s" if retry_in is not None else "not retried")
        return Outcome(row=row, retry_in=retry_in, error=error)

    # --- the sweep ----------------------------------------------------------------------------------

    def release_lost(self, now=None) -> int:
        """RUNNING rows whose worker died (no progress for the lost-after time, or owner gone) → FAILED, due now."""
        now = now or timezone.now()
        running = self.model.objects.filter(state=self.states.running)
        lost = Q(**{f"{self.running_since}__lt": self.lost_before(now)}) | Q(**{f"{self.running_since}__isnull": True})
        ids = set(running.filter(lost).values_list("pk", flat=True))
        if self.owner_field:
            owners = running.exclude(pk__in=ids).exclude(**{self.owner_field: ""}).values_list("pk", self.owner_field)
            ids.update(pk for pk, owner in owners if owner_is_gone(owner))
        if not ids:
            return 0
        after = self._seconds(self.lost_after_setting)
        return running.filter(pk__in=ids).update(
            state=self.states.failed, next_attempt_at=now,
            last_error=f"worker lost: RUNNING for more than {after:g} s without progress, or its process is gone")

    def _due(self, now) -> Q:
        grace = now - timedelta(seconds=self._seconds(self.pending_grace_setting))
        failed = Q(state=self.states.failed) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        waiting = Q(state=self.states.waiting) & (
            Q(next_attempt_at__isnull=True, **{f"{self.waiting_since}__lte": grace}) | Q(next_attempt_at__lte=now))
        return failed | waiting

    def due_ids(self, now=None, limit: int = 500) -> list[int]:
        """Rows whose task may have been lost: FAILED past next_attempt_at, waiting past the grace."""
        now = now or timezone.now()
        return list(self.model.objects.filter(self._due(now)).order_by("pk").values_list("pk", flat=True)[:limit])

    def sweep(self, enqueue: Callable[[int], None], now=None) -> tuple[int, int]:
        """Release lost rows and re-enqueue the due ones; returns (released, re-enqueued)."""
        now = now or timezone.now()
        released = self.release_lost(now)
        due = self.due_ids(now)
        # A waiting row is sent again only after another grace period (its task may just be slow).
        again = now + timedelta(seconds=self._seconds(self.pending_grace_setting))
        self.model.objects.filter(pk__in=due, state=self.states.waiting).update(next_attempt_at=again)
        for pk in due:
            enqueue(pk)
        if released or due:
            log.warning("sweep of %s: %d lost rows released, %d re-enqueued", self.label, released, len(due))
        return released, len(due)
