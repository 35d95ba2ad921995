"""Which scheduled steps an MPPS's Scheduled Step Attributes items find, and staff linking."""
import pytest

from mpps.errors import LinkingError
from mpps.extraction import ScheduledStepKeys
from mpps.linking import find_scheduled_steps
from mpps.models import PerformedProcedureStep
from mpps.services import link_unscheduled
from tests.factories import make_step

pytestmark = pytest.mark.django_db




@pytest.mark.parametrize("keys, modality, expected", [
    (lambda o, p, ct, mr: ScheduledStepKeys(p.study_instance_uid, sps_id=ct.sps_id), "CT", "ct"),
    (lambda o, p, ct, mr: ScheduledStepKeys("9.9.9", o.accession_number, p.requested_procedure_id, mr.sps_id), "MR", "mr"),
    (lambda o, p, ct, mr: ScheduledStepKeys("9.9.9", o.accession_number, sps_id=mr.sps_id), "MR", "mr"),
    (lambda o, p, ct, mr: ScheduledStepKeys(p.study_instance_uid), "MR", "mr"),  # no SPS ID: this modality's step
    (lambda o, p, ct, mr: ScheduledStepKeys("9.9.9", o.accession_number), "CT", "ct"),  # accession alone
    (lambda o, p, ct, mr: ScheduledStepKeys(p.study_instance_uid), "US", "ct mr"),  # no step of this modality
    (lambda o, p, ct, mr: ScheduledStepKeys("9.9.9", "NOSUCH", sps_id="NOSUCH"), "CT", ""),
])
def test_it_finds_the_scheduled_steps_of_an_item(order_with_two_modalities, keys, modality, expected):
    order, procedure, ct, mr = order_with_two_modalities
    steps, notes = find_scheduled_steps([keys(order, procedure, ct, mr)], modality)
    by_name = {"ct": ct, "mr": mr}
    assert sorted(s.pk for s in steps) == sorted(by_name[n].pk for n in expected.split())
    assert bool(notes) == (expected == "")


def test_it_refuses_to_link_unknown_steps():
    performed = PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3.4")
    with pytest.raises(LinkingError, match="no scheduled step"):
        link_unscheduled(performed.pk, [987654])
    with pytest.raises(LinkingError, match="no performed procedure step"):
        link_unscheduled(987654, [make_step().pk])
    with pytest.raises(LinkingError, match="at least one"):
        link_unscheduled(performed.pk, [])


def test_it_starts_the_steps_staff_link_to_an_in_progress_step():
    step = make_step()
    performed = PerformedProcedureStep.objects.create(sop_instance_uid="1.2.3.5", reported_patient_id="X")
    link_unscheduled(performed.pk, [step.pk])
    performed.refresh_from_db()
    step.refresh_from_db()
    assert step.status == "STARTED"
    assert performed.patient_id == step.requested_procedure.order.patient_id
    assert performed.accession_number == step.requested_procedure.order.accession_number
