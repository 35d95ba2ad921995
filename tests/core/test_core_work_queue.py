"""The one work queue (broker.core.work_queue), run against every kind that uses it: routing jobs, MPPS forwards
and RIS notifications go through the same claim, finish, backoff, lanes and sweep."""
import ast
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pydicom.uid import generate_uid

from broker.core.work_queue import backoff_seconds
from broker.outbound.models import (
    MPPS_FORWARDS,
    RIS_NOTIFICATIONS,
    MppsDestination,
    MppsForward,
    RisEndpoint,
    RisNotification,
)
from broker.routing.models import ROUTING_JOBS, Destination, RoutingJob, Study
from mpps.models import PerformedProcedureStep
from tests.factories import make_step

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


class RoutingJobs:
    """No lanes: one job per study and destination."""

    queue = ROUTING_JOBS
    has_lanes = False

    def new_lane(self):
        return Destination.objects.create(name=f"PACS{next(_numbers)}", ae_title="PACS", host="127.0.0.1", port=104)

    def add(self, destination):
        study = Study.objects.create(study_instance_uid=generate_uid(), last_received_at=timezone.now())
        return RoutingJob.objects.create(study=study, destination=destination)


class MppsForwards:
    """A lane per (performed step, destination), in sequence order."""

    queue = MPPS_FORWARDS
    has_lanes = True

    def new_lane(self):
        step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01")
        destination = MppsDestination.objects.create(name=f"MPPS{next(_numbers)}", ae_title="MPPS", host="127.0.0.1",
                                                     port=104)
        return {"performed_step": step, "destination": destination, "next": itertools.count(1)}

    def add(self, lane):
        operation = "N-CREATE" if not MppsForward.objects.filter(performed_step=lane["performed_step"]).exists() else "N-SET"
        return MppsForward.objects.create(performed_step=lane["performed_step"], destination=lane["destination"],
                                          operation=operation, sequence=next(lane["next"]), dataset={})


class RisNotifications:
    """A lane per (endpoint, order), in creation order."""

    queue = RIS_NOTIFICATIONS
    has_lanes = True

    def new_lane(self):
        endpoint = RisEndpoint.objects.create(name=f"RIS{next(_numbers)}", host="127.0.0.1", port=2575)
        return {"endpoint": endpoint, "order": make_step().requested_procedure.order}

    def add(self, lane):
        return RisNotification.objects.create(endpoint=lane["endpoint"], order=lane["order"], event="IP",
                                              message="MSH|^~\\&|BROKER", control_id=generate_uid()[-20:])


KINDS = [RoutingJobs(), MppsForwards(), RisNotifications()]


@pytest.fixture(params=KINDS, ids=lambda kind: type(kind).__name__)
def kind(request):
    return request.param


def reread(row):
    return type(row).objects.get(pk=row.pk)


def age(kind, row, field: str, seconds: float) -> None:
    type(row).objects.filter(pk=row.pk).update(**{field: timezone.now() - timedelta(seconds=seconds)})


# --- claim -----------------------------------------------------------------------------------------

def test_it_gives_a_row_to_one_claim_only(kind):
    row = kind.add(kind.new_lane())
    first = kind.queue.claim(row.pk)
    assert (first.state, first.attempts) == (kind.queue.states.running, 1)
    assert kind.queue.claim(row.pk) is None
    assert reread(row).attempts == 1


@pytest.mark.parametrize("state", ["done", "gave_up"])
def test_it_never_claims_a_settled_row(kind, state):
    row = kind.add(kind.new_lane())
    type(row).objects.filter(pk=row.pk).update(state=getattr(kind.queue.states, state))
    assert kind.queue.claim(row.pk) is None


def test_it_takes_over_a_running_row_without_progress_for_the_lost_after_time(kind, settings):
    setattr(settings, kind.queue.lost_after_setting, 60)
    row = kind.queue.claim(kind.add(kind.new_lane()).pk)
    age(kind, row, kind.queue.running_since, 30)
    assert kind.queue.claim(row.pk) is None  # still within its time: its worker may be busy
    age(kind, row, kind.queue.running_since, 61)
    assert kind.queue.claim(row.pk).attempts == 2


# --- finish, fail, backoff ---------------------------------------------------------------------------

def test_it_ignores_a_late_finish_after_the_sweep_released_the_row(kind, settings):
    setattr(settings, kind.queue.lost_after_setting, 60)
    row = kind.queue.claim(kind.add(kind.new_lane()).pk)
    age(kind, row, kind.queue.running_since, 61)
    assert kind.queue.release_lost() == 1
    assert kind.queue.finish(row) is False
    assert kind.queue.fail(row, "late failure") is None
    released = reread(row)
    assert released.state == kind.queue.states.failed and "worker lost" in released.last_error


def test_it_ignores_a_late_finish_after_another_run_took_the_row_over(kind, settings):
    setattr(settings, kind.queue.lost_after_setting, 60)
    first = kind.queue.claim(kind.add(kind.new_lane()).pk)
    age(kind, first, kind.queue.running_since, 61)
    second = kind.queue.claim(first.pk)
    assert kind.queue.finish(first) is False
    assert kind.queue.finish(second) is True
    assert reread(first).state == kind.queue.states.done


def test_it_backs_off_and_says_when_it_tries_again(kind, settings):
    setattr(settings, kind.queue.backoff_setting, 10)
    row = kind.queue.claim(kind.add(kind.new_lane()).pk)
    assert kind.queue.fail(row, "connection refused") == 10
    failed = reread(row)
    retry_at = timezone.localtime(failed.next_attempt_at).strftime("%Y-%m-%d %H:%M:%S")
    assert failed.state == kind.queue.states.failed
    assert failed.last_error == f"connection refused; will retry at {retry_at}"
    assert kind.queue.claim(row.pk) is None  # not due yet
    type(row).objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert kind.queue.claim(row.pk).attempts == 2


@pytest.mark.parametrize("attempts, seconds", [(0, 10), (1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)])
def test_it_backs_off_exponentially_up_to_the_ceiling(kind, settings, attempts, seconds):
    setattr(settings, kind.queue.backoff_setting, 10)
    setattr(settings, kind.queue.backoff_max_setting, 100)
    assert kind.queue.backoff_seconds(attempts) == seconds
    assert backoff_seconds(attempts, 10, 100) == seconds  # the one formula


def test_it_gives_up_after_the_maximum_attempts_where_the_kind_has_one(kind, settings):
    row = kind.add(kind.new_lane())
    type(row).objects.filter(pk=row.pk).update(attempts=7)
    claimed = kind.queue.claim(row.pk)
    if kind.queue.max_attempts_setting:
        setattr(settings, kind.queue.max_attempts_setting, 8)
        assert kind.queue.fail(claimed, "refused") is None
        assert reread(row).state == kind.queue.states.gave_up and "after 8 attempts" in reread(row).last_error
    else:  # retried until an operator gives up
        assert kind.queue.fail(claimed, "refused") is not None
        assert reread(row).state == kind.queue.states.failed


# --- lanes -------------------------------------------------------------------------------------------

def test_it_holds_a_row_back_until_the_earlier_rows_of_its_lane_are_settled(kind):
    lane = kind.new_lane()
    first, second = kind.add(lane), kind.add(lane)
    if not kind.has_lanes:  # routing jobs do not wait for each other
        assert kind.queue.claim(second.pk) is not None
        return
    assert kind.queue.claim(second.pk) is None  # an N-SET never overtakes its N-CREATE, a CM never its IP
    assert kind.queue.finish(kind.queue.claim(first.pk))
    assert kind.queue.next_in_lane(first) == second
    assert kind.queue.claim(second.pk) is not None


def test_it_lets_a_lane_move_on_past_a_row_given_up(kind):
    lane = kind.new_lane()
    first, second = kind.add(lane), kind.add(lane)
    assert kind.queue.give_up(kind.queue.claim(first.pk), "operator") is True
    assert kind.queue.claim(second.pk) is not None


def test_it_does_not_hold_up_other_lanes(kind):
    held, other = kind.new_lane(), kind.new_lane()
    kind.add(held)
    kind.add(held)
    assert kind.queue.claim(kind.add(other).pk) is not None


# --- the sweep ---------------------------------------------------------------------------------------

def test_it_re_enqueues_a_waiting_row_once_per_grace_period(kind, settings):
    setattr(settings, kind.queue.pending_grace_setting, 30)
    row = kind.add(kind.new_lane())
    enqueued = []
    assert kind.queue.sweep(enqueued.append) == (0, 0)  # its own task may still come
    age(kind, row, kind.queue.waiting_since, 31)
    assert kind.queue.sweep(enqueued.append) == (0, 1)
    assert kind.queue.sweep(enqueued.append) == (0, 0)  # touched: not sent again before another grace period
    assert enqueued == [row.pk]
    assert kind.queue.claim(row.pk) is not None  # the touch does not keep the re-enqueued task from it


def test_it_re_enqueues_a_failed_row_whose_retry_is_due(kind):
    row = kind.queue.claim(kind.add(kind.new_lane()).pk)
    kind.queue.fail(row, "refused")
    enqueued = []
    assert kind.queue.sweep(enqueued.append) == (0, 0)
    type(row).objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert kind.queue.sweep(enqueued.append) == (0, 1)
    assert enqueued == [row.pk]


def test_it_releases_a_row_whose_worker_was_lost_and_sends_it_again(kind, settings):
    setattr(settings, kind.queue.lost_after_setting, 60)
    row = kind.queue.claim(kind.add(kind.new_lane()).pk)
    age(kind, row, kind.queue.running_since, 61)
    enqueued = []
    assert kind.queue.sweep(enqueued.append) == (1, 1)
    assert enqueued == [row.pk]
    assert kind.queue.claim(row.pk).attempts == 2


# --- the layer ---------------------------------------------------------------------------------------

PROJECT_APPS = ("broker", "worklist", "mpps")


@pytest.mark.parametrize("module", sorted(Path("broker/core").glob("*.py")), ids=lambda path: path.name)
def test_it_keeps_broker_core_free_of_project_apps(module):
    imported = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    above = {name for name in imported if name.split(".")[0] in PROJECT_APPS and not name.startswith("broker.core")}
    assert above == set()
