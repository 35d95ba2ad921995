"""Routing a private SOP class (GE's 1.2.840.113619.4.3) as it came: byte for byte to a storescp that takes any
class and to Orthanc (an independent PACS), and a clear job error from a destination that does not know it; once
per sender engine."""
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE

from broker.routing import delivery, services
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.routing.support import (
    GE_PRIVATE,
    StoreSCP,
    body_bytes,
    dcmsend,
    make_private_instance,
    make_study,
    sop_instance_uid,
)

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("sender")]  # every test once per engine


def route_everything_to(scp) -> Destination:
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    return destination


def receive_and_complete(port: int, path) -> Study:
    """The scanner sends its private instance (dcmsend: storescu skips unknown classes), staff mark the study complete."""
    result = dcmsend(port, [path])
    assert result.returncode == 0, result.stderr
    return services.mark_study_complete(Study.objects.get().id)


def send_each_in_its_own_syntax(port: int, paths) -> None:
    """The modality proposes each file's own transfer syntax only and sends the file's bytes as they are."""
    ae = AE(ae_title="MODALITY1")
    for path in paths:
        meta = dcmread(path, stop_before_pixels=True)
        ae.add_requested_context(meta.SOPClassUID, meta.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    try:
        assert [assoc.send_c_store(path).Status for path in paths] == [0] * len(paths)
    finally:
        assoc.release()


def test_it_routes_a_private_sop_class_byte_for_byte(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("-pm", "+xi")).start()  # promiscuous: any SOP class
    route_everything_to(scp)
    path = make_private_instance(tmp_path / "ge.dcm")
    study = receive_and_complete(broker_listener, path)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    (copy,) = scp.received()[sop_instance_uid(path)]
    assert body_bytes(copy) == body_bytes(path)
    job.refresh_from_db()
    assert (job.sent, job.total, job.last_error) == (1, 1, "")
    scp.stop()


def test_it_routes_a_private_sop_class_byte_for_byte_to_orthanc(broker_listener, orthanc, sender, tmp_path):
    """An implicit VR private instance, sent in its own syntax, stored so and routed so (dcmsend would re-encode it)."""
    route_everything_to(orthanc)
    path = make_private_instance(tmp_path / "ge.dcm")
    send_each_in_its_own_syntax(broker_listener, [path])
    job = RoutingJob.objects.get(study=services.mark_study_complete(Study.objects.get().id))

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    stored = orthanc.stored()
    assert list(stored) == [sop_instance_uid(path)]
    copy = tmp_path / "from-orthanc.dcm"
    copy.write_bytes(stored[sop_instance_uid(path)])
    assert body_bytes(copy) == body_bytes(path)  # Orthanc writes its own file meta; the data set is the scanner's
    job.refresh_from_db()
    assert (job.sent, job.total, job.last_error) == (1, 1, "")
    assert sender.dcmsend_runs == []  # Implicit VR: dcmsend would re-encode it, so pynetdicom sent it


def test_it_routes_a_mixed_study_to_orthanc_each_instance_in_its_own_syntax(broker_listener, orthanc, sender,
                                                                           tmp_path):
    """Explicit and Implicit VR, RLE: Orthanc keeps what it is sent, so each file must arrive in its own encoding."""
    route_everything_to(orthanc)
    paths = make_study(tmp_path / "study", count=4)
    send_each_in_its_own_syntax(broker_listener, paths)
    job = RoutingJob.objects.get(study=services.mark_study_complete(Study.objects.get().id))

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    stored = orthanc.stored()
    assert set(stored) == {sop_instance_uid(p) for p in paths}
    for path in paths:
        copy = tmp_path / "from-orthanc.dcm"
        copy.write_bytes(stored[sop_instance_uid(path)])
        assert body_bytes(copy) == body_bytes(path), path.name
    if sender.name == "dcmtk":  # the Explicit VR Little Endian files went through dcmsend, Implicit and RLE did not
        sent_by_dcmsend = {sop_instance_uid(Path(p)) for run in sender.dcmsend_runs for p in run}
        assert sent_by_dcmsend == {sop_instance_uid(paths[0]), sop_instance_uid(paths[2])}


def test_it_says_in_words_that_the_destination_refused_the_private_sop_class(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs").start()  # the standard's storage classes only
    route_everything_to(scp)
    path = make_private_instance(tmp_path / "ge.dcm")
    study = receive_and_complete(broker_listener, path)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP

    error = RoutingJob.objects.get(pk=job.id).last_error
    assert f"accepted no context for SOP class {GE_PRIVATE} (private, not in the DICOM standard)" in error, error
    assert scp.received() == {}
    scp.stop()
