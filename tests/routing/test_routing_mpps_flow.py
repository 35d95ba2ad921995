"""The whole path on one listener: a modality's MPPS (N-CREATE, N-SET) and its images (storescu), then routing."""
import pytest
from pydicom import Dataset, dcmread
from pydicom.sequence import Sequence

from broker.routing import delivery
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.mpps.support import Modality, n_create_dataset, n_set_dataset, unscheduled_ssa_item
from tests.routing.support import StoreSCP, make_study, sop_instance_uid, storescu

pytestmark = pytest.mark.dcmtk


def performed_series(paths) -> list[Dataset]:
    """Performed Series Sequence items referencing the image files, one per series, as the modality reports them."""
    by_series: dict[str, list] = {}
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ref)
    items = []
    for series_uid, refs in by_series.items():
        item = Dataset()
        item.PerformingPhysicianName, item.ProtocolName, item.OperatorsName = "", "HEAD ROUTINE", "TECH^ANNA"
        item.SeriesInstanceUID, item.SeriesDescription, item.RetrieveAETitle = series_uid, "AXIAL", ""
        item.ReferencedImageSequence = Sequence(refs)
        item.ReferencedNonImageCompositeSOPInstanceSequence = Sequence()
        items.append(item)
    return items


def test_it_routes_the_study_when_the_last_image_of_a_completed_mpps_arrives(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="ct", match_modality="CT").destinations.add(destination)
    paths = make_study(tmp_path / "s", count=3, mix=False)
    study_uid = str(dcmread(paths[0]).StudyInstanceUID)

    with Modality(broker_listener) as modality:
        status, mpps_uid = modality.create(n_create_dataset(ssa_items=[unscheduled_ssa_item(study_uid)]))
        assert status.Status == 0x0000
        assert storescu(broker_listener, paths[:2], calling="CT01").returncode == 0
        assert modality.set(mpps_uid, n_set_dataset("COMPLETED", series=performed_series(paths))).Status == 0x0000
    assert Study.objects.get().state == Study.State.RECEIVING  # the MPPS names an image not here yet

    assert storescu(broker_listener, paths[2:], calling="CT01").returncode == 0

    study = Study.objects.get()
    assert (study.state, study.completion_reason, study.missing_instances) == (Study.State.COMPLETE, "MPPS", 0)
    job = RoutingJob.objects.get()
    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}


def test_it_holds_the_study_when_the_mpps_is_discontinued_as_the_wrong_worklist_entry(broker_listener, tmp_path):
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=104)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    paths = make_study(tmp_path / "s", count=2, mix=False)
    study_uid = str(dcmread(paths[0]).StudyInstanceUID)

    with Modality(broker_listener) as modality:
        _, mpps_uid = modality.create(n_create_dataset(ssa_items=[unscheduled_ssa_item(study_uid)]))
        assert storescu(broker_listener, paths, calling="CT01").returncode == 0
        wrong_entry = ("110514", "DCM", "Incorrect worklist entry selected")
        assert modality.set(mpps_uid, n_set_dataset("DISCONTINUED", series=performed_series(paths), reason=wrong_entry)).Status == 0

    study = Study.objects.get()
    assert study.state == Study.State.COMPLETE
    assert "incorrect worklist entry selected (110514)" in study.held_reason
    assert RoutingJob.objects.count() == 0
