"""MPPS events become outbound rows in the same transaction, with their tasks enqueued only on commit."""
import pytest
from pydicom.uid import generate_uid

from broker.outbound.models import MppsForward, RisNotification
from mpps.errors import MissingAttribute
from mpps.services import create_performed_step, link_unscheduled, set_performed_step
from tests.factories import make_step
from tests.mpps.support import n_create_dataset, n_set_dataset, segment, series_item, unscheduled_ssa_item

pytestmark = pytest.mark.django_db




def test_it_queues_a_forward_per_destination_and_tells_the_ris_in_progress(configured, django_capture_on_commit_callbacks):
    step = make_step()
    with django_capture_on_commit_callbacks() as callbacks:
        performed = create_performed_step(generate_uid(), n_create_dataset(step), calling_ae="CT01")
    forwards = MppsForward.objects.filter(performed_step=performed).order_by("destination__name")
    assert [(f.destination.name, f.operation, f.sequence) for f in forwards] == [
        ("DOSE", "N-CREATE", 1), ("PACS", "N-CREATE", 1)]
    assert forwards[0].dataset["00400252"]["Value"] == ["IN PROGRESS"]
    notification = RisNotification.objects.get()
    assert notification.event == "IP" and segment(notification.message, "ORC")[5] == "IP"
    assert notification.order == step.requested_procedure.order
    assert len(callbacks) == 3  # two forwards and one notification, enqueued once committed


def test_it_queues_n_sets_behind_the_n_create_and_tells_the_ris_completed(configured):
    step = make_step()
    uid = generate_uid()
    performed = create_performed_step(uid, n_create_dataset(step), calling_ae="CT01")
    set_performed_step(uid, n_set_dataset(series=[series_item()]), calling_ae="CT01")
    set_performed_step(uid, n_set_dataset("COMPLETED", series=[series_item()]), calling_ae="CT01")
    pacs = MppsForward.objects.filter(performed_step=performed, destination__name="PACS").order_by("sequence")
    assert [(f.operation, f.sequence) for f in pacs] == [("N-CREATE", 1), ("N-SET", 2), ("N-SET", 3)]
    assert pacs[2].dataset["00400252"]["Value"] == ["COMPLETED"]
    assert list(RisNotification.objects.order_by("pk").values_list("event", flat=True)) == ["IP", "CM"]


def test_it_tells_the_ris_about_each_order_of_a_group_case(configured):
    first, second = make_step(), make_step()
    uid = generate_uid()
    create_performed_step(uid, n_create_dataset(first, second), calling_ae="CT01")
    set_performed_step(uid, n_set_dataset("DISCONTINUED"), calling_ae="CT01")
    told = RisNotification.objects.order_by("order_id", "pk").values_list("order_id", "event")
    assert list(told) == [(first.requested_procedure.order_id, "IP"), (first.requested_procedure.order_id, "DC"),
                          (second.requested_procedure.order_id, "IP"), (second.requested_procedure.order_id, "DC")]


def test_it_forwards_nothing_again_when_staff_link_an_unscheduled_step(configured):
    step = make_step()
    uid = generate_uid()
    performed = create_performed_step(uid, n_create_dataset(ssa_items=[unscheduled_ssa_item()]), calling_ae="CT01")
    assert RisNotification.objects.count() == 0  # no order to tell about yet
    forwards_before = MppsForward.objects.count()
    link_unscheduled(performed.pk, [step.pk])
    assert MppsForward.objects.count() == forwards_before
    assert list(RisNotification.objects.values_list("event", flat=True)) == ["IP"]


def test_it_does_not_forward_or_notify_a_refused_request(configured):
    step = make_step()
    dataset = n_create_dataset(step)
    del dataset.Modality
    with pytest.raises(MissingAttribute, match=r"Missing: \(0008,0060\) Modality"):
        create_performed_step(generate_uid(), dataset, calling_ae="CT01")
    assert MppsForward.objects.count() == RisNotification.objects.count() == 0
