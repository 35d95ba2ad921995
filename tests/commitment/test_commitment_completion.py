"""Storage commitment as the study-complete signal for routing, over real associations: the modality stores with
storescu, asks for commitment with a pynetdicom N-ACTION, and the study completes (and is routed) at once."""
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from mpps.models import PerformedProcedureStep
from tests.commitment.support import Modality, action_information
from tests.routing.support import make_image, storescu

pytestmark = pytest.mark.dcmtk

STUDY = "1.2.826.0.1.3680043.10.2"


def reference(path) -> tuple[str, str]:
    ds = dcmread(path, stop_before_pixels=True)
    return str(ds.SOPClassUID), str(ds.SOPInstanceUID)


def stored_images(port, tmp_path, count=2):
    paths = [make_image(tmp_path / f"{n}.dcm", study_uid=STUDY, series_uid=f"{STUDY}.1", number=n)
             for n in range(1, count + 1)]
    result = storescu(port, paths)
    assert result.returncode == 0, result.stderr
    return paths


@pytest.fixture
def routed_to_pacs(transactional_db):
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    RoutingRule.objects.create(name="everything").destinations.add(destination)
    return destination


def test_it_completes_the_study_when_every_instance_is_committed(broker_listener, quick, tmp_path, routed_to_pacs):
    paths = stored_images(broker_listener, tmp_path)
    assert Study.objects.get().state == Study.State.RECEIVING

    modality = Modality(broker_listener)
    assert modality.request(action_information([reference(p) for p in paths]), wait_for_report=20).Status == 0x0000

    (report,) = modality.reports
    assert report.event_type == 1
    study = Study.objects.get()
    assert (study.state, study.completion_reason, study.missing_instances) == (Study.State.COMPLETE, "COMMIT", 0)
    assert list(RoutingJob.objects.values_list("study__study_instance_uid", "destination__name")) == [(STUDY, "PACS")]


def test_it_leaves_the_study_to_the_quiet_time_when_an_instance_is_not_committed(broker_listener, quick, tmp_path):
    quick.BROKER_COMMITMENT_WAIT_SECONDS = 1
    paths = stored_images(broker_listener, tmp_path)
    never_sent = ("1.2.840.10008.5.1.4.1.1.2", generate_uid())
    modality = Modality(broker_listener)

    modality.request(action_information([reference(p) for p in paths] + [never_sent]), wait_for_report=20)

    (report,) = modality.reports
    assert report.event_type == 2
    assert Study.objects.get().state == Study.State.RECEIVING


def test_it_waits_for_an_mpps_still_in_progress(broker_listener, quick, tmp_path):
    PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), study_instance_uid=STUDY,
                                          status=PerformedProcedureStep.Status.IN_PROGRESS)
    paths = stored_images(broker_listener, tmp_path)
    modality = Modality(broker_listener)

    modality.request(action_information([reference(paths[0])]), wait_for_report=20)  # the first series' commitment

    assert modality.reports[0].event_type == 1
    assert Study.objects.get().state == Study.State.RECEIVING


def test_it_ignores_commitment_when_the_setting_is_off(broker_listener, quick, tmp_path):
    quick.BROKER_STUDY_COMPLETE_ON_COMMITMENT = False
    paths = stored_images(broker_listener, tmp_path)
    modality = Modality(broker_listener)

    modality.request(action_information([reference(p) for p in paths]), wait_for_report=20)

    assert modality.reports[0].event_type == 1
    assert Study.objects.get().state == Study.State.RECEIVING
