"""Outbound delivery without a worker: rows made from MPPS events, sent to a real downstream SCP and a real
MLLP server, in order, retried with backoff, released by the sweep, and the operator's actions."""
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from pydicom.uid import generate_uid

from broker.outbound import forwarding, notifying, services
from broker.outbound.models import MPPS_FORWARDS, DeliveryState, MppsDestination, MppsForward, RisEndpoint
from mpps.models import PerformedProcedureStep
from tests.factories import make_step
from tests.mpps.support import segment
from tests.services import free_port

pytestmark = pytest.mark.django_db






def performed_step(**fields) -> PerformedProcedureStep:
    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="CT01", **fields)
    return step


def create_dataset() -> dict:
    return {"00400252": {"vr": "CS", "Value": ["IN PROGRESS"]}, "00080060": {"vr": "CS", "Value": ["CT"]}}


def set_dataset(status="COMPLETED") -> dict:
    return {"00400252": {"vr": "CS", "Value": [status]}}


def destination(port, **fields) -> MppsDestination:
    values = {"name": f"PACS{port}", "ae_title": "PACS", "host": "127.0.0.1", "port": port}
    values.update(fields)
    return MppsDestination.objects.create(**values)


def endpoint(port, **fields) -> RisEndpoint:
    values = {"name": f"RIS{port}", "host": "127.0.0.1", "port": port, "timeout_seconds": 2}
    values.update(fields)
    return RisEndpoint.objects.create(**values)


def test_it_forwards_n_create_then_n_set_to_each_destination(downstream):
    destination(downstream.port)
    step = performed_step()
    first, = services.queue_forwards(step, "N-CREATE", create_dataset())
    second, = services.queue_forwards(step, "N-SET", set_dataset())
    assert (first.sequence, second.sequence) == (1, 2)

    assert forwarding.deliver(second.pk).sent is False  # its N-CREATE has not gone yet: it waits
    outcome = forwarding.deliver(first.pk)
    assert outcome.sent and outcome.next_id == second.pk
    assert forwarding.deliver(second.pk).sent

    assert downstream.operations(step.sop_instance_uid) == ["N-CREATE", "N-SET"]
    _, _, received = downstream.received[1]
    assert received.PerformedProcedureStepStatus == "COMPLETED"
    assert list(MppsForward.objects.values_list("state", flat=True).order_by("sequence")) == ["SENT", "SENT"]


def test_it_does_not_forward_a_step_back_to_the_ae_it_came_from(downstream):
    destination(downstream.port, ae_title="CT01")
    assert services.queue_forwards(performed_step(), "N-CREATE", create_dataset()) == []


def test_it_sends_a_claimed_forward_once(downstream):
    destination(downstream.port)
    step = performed_step()
    forward, = services.queue_forwards(step, "N-CREATE", create_dataset())
    assert forwarding.deliver(forward.pk).sent
    assert forwarding.deliver(forward.pk).sent is False
    assert downstream.operations(step.sop_instance_uid) == ["N-CREATE"]


@override_settings(BROKER_OUTBOUND_RETRY_BASE_SECONDS=10, BROKER_OUTBOUND_RETRY_MAX_SECONDS=25)
def test_it_backs_off_exponentially_while_the_destination_is_down():
    destination(free_port())  # nobody listens there
    forward, = services.queue_forwards(performed_step(), "N-CREATE", create_dataset())
    delays = []
    for _ in range(3):
        delays.append(forwarding.deliver(forward.pk).retry_in)
        MppsForward.objects.filter(pk=forward.pk).update(next_attempt_at=timezone.now())  # time passes
    assert delays == [10, 20, 25]
    forward.refresh_from_db()
    assert forward.state == DeliveryState.FAILED and forward.attempts == 3
    assert "not established" in forward.last_error


def test_it_treats_a_duplicate_answer_to_a_resent_n_create_as_delivered(downstream):
    destination(downstream.port)
    downstream.answer = 0x0111
    forward, = services.queue_forwards(performed_step(), "N-CREATE", create_dataset())
    assert forwarding.deliver(forward.pk).sent
    forward.refresh_from_db()
    assert forward.response_status == 0x0111 and "already had" in forward.response_comment


def test_it_retries_a_forward_the_destination_refused(downstream):
    destination(downstream.port)
    downstream.answer = 0x0110
    forward, = services.queue_forwards(performed_step(), "N-CREATE", create_dataset())
    assert forwarding.deliver(forward.pk).retry_in is not None
    forward.refresh_from_db()
    assert forward.state == DeliveryState.FAILED and forward.response_status == 0x0110


def completed_order_step():
    step = make_step()
    order = step.requested_procedure.order
    order.status = "COMPLETED"
    order.save()
    return order


def test_it_tells_the_ris_and_keeps_the_ack(ris):
    endpoint(ris.port)
    order = completed_order_step()
    notification, = services.queue_notifications(order)
    assert notifying.deliver(notification.pk).sent
    notification.refresh_from_db()
    assert notification.state == DeliveryState.SENT and notification.attempts == 1
    assert segment(notification.ack, "MSA")[1:3] == ["AA", notification.control_id]
    received, = ris.messages()
    assert segment(received, "ORC")[1] == "SC" and segment(received, "ORC")[5] == "CM"
    assert segment(received, "ORC")[2].split("^")[0] == order.placer_order_number


@pytest.mark.parametrize("answer", ["AE", "AR"])
def test_it_retries_when_the_ris_refuses(ris, answer):
    ris.answer = answer
    endpoint(ris.port)
    notification, = services.queue_notifications(completed_order_step())
    assert notifying.deliver(notification.pk).retry_in is not None
    notification.refresh_from_db()
    assert notification.state == DeliveryState.FAILED
    assert f"RIS answered {answer}" in notification.last_error
    assert segment(notification.ack, "MSA")[1] == answer


def test_it_retries_when_the_ris_does_not_answer_in_time(ris):
    ris.answer = None
    endpoint(ris.port, timeout_seconds=0.5)
    notification, = services.queue_notifications(completed_order_step())
    assert notifying.deliver(notification.pk).retry_in is not None
    notification.refresh_from_db()
    assert notification.state == DeliveryState.FAILED and "timed out" in notification.last_error.lower()


def test_it_tells_only_the_ris_that_placed_the_order(ris):
    endpoint(ris.port, match_sending_application="OTHER_RIS")
    assert services.queue_notifications(completed_order_step()) == []


def test_it_keeps_the_ris_messages_of_an_order_in_order(ris):
    endpoint(ris.port)
    order = completed_order_step()
    order.status = "IN_PROGRESS"
    first, = services.queue_notifications(order)
    order.status = "COMPLETED"
    second, = services.queue_notifications(order)
    assert notifying.deliver(second.pk).sent is False
    assert notifying.deliver(first.pk).next_id == second.pk
    assert notifying.deliver(second.pk).sent
    assert [segment(m, "ORC")[5] for m in ris.messages()] == ["IP", "CM"]


@override_settings(BROKER_OUTBOUND_STUCK_SECONDS=60)
def test_it_releases_work_a_lost_worker_held():
    destination(free_port())
    forward, = services.queue_forwards(performed_step(), "N-CREATE", create_dataset())
    MppsForward.objects.filter(pk=forward.pk).update(state=DeliveryState.RUNNING, attempts=1,
                                                     claimed_at=timezone.now() - timedelta(seconds=61))
    assert MPPS_FORWARDS.release_lost() == 1
    assert MPPS_FORWARDS.due_ids() == [forward.pk]
    forward.refresh_from_db()
    assert forward.state == DeliveryState.FAILED and "worker lost" in forward.last_error


@override_settings(BROKER_OUTBOUND_PENDING_GRACE_SECONDS=30)
def test_it_sweeps_pending_work_only_after_its_grace():
    destination(free_port())
    forward, = services.queue_forwards(performed_step(), "N-CREATE", create_dataset())
    assert MPPS_FORWARDS.due_ids() == []
    MppsForward.objects.filter(pk=forward.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    assert MPPS_FORWARDS.due_ids() == [forward.pk]


def test_it_lets_the_operator_give_up_and_retry(downstream):
    destination(downstream.port)
    step = performed_step()
    first, = services.queue_forwards(step, "N-CREATE", create_dataset())
    second, = services.queue_forwards(step, "N-SET", set_dataset())
    with transaction.atomic():
        assert services.give_up_forward(first.pk)
    assert forwarding.deliver(second.pk).sent  # the queue moves on past what the operator gave up
    with transaction.atomic():
        assert services.retry_forward(first.pk)
    first.refresh_from_db()
    assert first.state == DeliveryState.PENDING
    assert forwarding.deliver(first.pk).sent
    assert services.give_up_notification(0) is False and services.retry_notification(0) is False


def test_it_forwards_non_ascii_text_in_the_character_set_it_came_in(downstream):
    destination(downstream.port)
    step = performed_step()
    dataset = dict(create_dataset())
    dataset["00080005"] = {"vr": "CS", "Value": ["ISO_IR 100"]}
    dataset["00100010"] = {"vr": "PN", "Value": [{"Alphabetic": "MÜLLER^JÜRGEN"}]}
    forward, = services.queue_forwards(step, "N-CREATE", dataset)
    assert forwarding.deliver(forward.pk).sent
    _, _, received = downstream.received[0]
    assert received.SpecificCharacterSet == "ISO_IR 100"
    assert str(received.PatientName) == "MÜLLER^JÜRGEN"
