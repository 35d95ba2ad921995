"""Routing a complete study to a real destination (DCMTK storescp on loopback), with each sender engine."""

import pytest
from pydicom import dcmread
from pydicom.uid import ImplicitVRLittleEndian, RLELossless

from broker.routing import delivery, services
from broker.routing.models import DeliveredInstance, Destination, RoutingJob, RoutingRule, StoredInstance
from tests.routing.support import (
    StoreSCP,
    assert_delivered_identically,
    make_image,
    make_jpeg_baseline,
    make_study,
    pixel_bytes,
    receive_and_complete,
    sop_instance_uid,
    storescu,
)

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("sender")]  # every test once per engine




def route_everything_to(scp: StoreSCP, **rule_fields) -> Destination:
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    rule = RoutingRule.objects.create(name="all", **rule_fields)
    rule.destinations.add(destination)
    return destination


def test_it_delivers_every_instance_with_identical_pixel_data(broker_listener, tmp_path, sender):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    route_everything_to(scp)
    paths = make_study(tmp_path / "study", count=6)
    study = receive_and_complete(broker_listener, paths)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    received = assert_delivered_identically(scp, paths)
    job.refresh_from_db()
    assert (job.sent, job.total, job.last_error) == (6, 6, "")
    rle = StoredInstance.objects.get(transfer_syntax_uid=RLELossless)
    assert dcmread(received[rle.sop_instance_uid][0]).file_meta.TransferSyntaxUID == RLELossless  # as stored
    assert DeliveredInstance.objects.get(instance=rle).transfer_syntax_uid == RLELossless
    assert len(sender.dcmsend_runs) == (1 if sender.name == "dcmtk" else 0)
    scp.stop()


def test_it_retries_when_the_destination_is_down_and_delivers_when_it_is_up(broker_listener, tmp_path, settings):
    settings.BROKER_ROUTING_BACKOFF_SECONDS = 0
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",))  # not started: nothing listens on its port
    route_everything_to(scp)
    paths = make_study(tmp_path / "study", count=3, mix=False)
    study = receive_and_complete(broker_listener, paths, extra=())
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED
    job.refresh_from_db()
    assert job.attempts == 1 and "could not connect to PACS" in job.last_error and job.next_attempt_at is not None

    scp.start()
    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}
    job.refresh_from_db()
    assert (job.attempts, job.sent) == (2, 3)
    scp.stop()


def test_it_says_in_words_that_the_destination_could_not_be_reached_and_when_it_retries(broker_listener, tmp_path,
                                                                                      settings):
    from django.utils import timezone

    settings.BROKER_ROUTING_BACKOFF_SECONDS = 600
    scp = StoreSCP(tmp_path / "pacs")  # not started: the connection is refused
    route_everything_to(scp)
    study = receive_and_complete(broker_listener, make_study(tmp_path / "study", count=5, mix=False), extra=())
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED

    job.refresh_from_db()
    retry_at = timezone.localtime(job.next_attempt_at).strftime("%Y-%m-%d %H:%M:%S")
    assert job.last_error == f"could not connect to PACS at 127.0.0.1:{scp.port}: connection refused; will retry at {retry_at}"


def test_it_gives_up_after_the_maximum_attempts_and_an_operator_retry_starts_again(broker_listener, tmp_path, settings):
    settings.BROKER_ROUTING_BACKOFF_SECONDS = 0
    settings.BROKER_ROUTING_MAX_ATTEMPTS = 2
    scp = StoreSCP(tmp_path / "pacs")
    route_everything_to(scp)
    study = receive_and_complete(broker_listener, make_study(tmp_path / "study", count=1, mix=False), extra=())
    job = RoutingJob.objects.get(study=study)

    states = [delivery.run_job(job.id), delivery.run_job(job.id)]

    assert states == [RoutingJob.State.FAILED, RoutingJob.State.GAVE_UP]
    assert "after 2 attempts" in RoutingJob.objects.get(pk=job.id).last_error
    assert delivery.run_job(job.id) == "skipped"  # waits for an operator
    scp.start()
    services.retry_job(job.id)
    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    scp.stop()


def test_it_converts_to_implicit_little_endian_when_the_destination_accepts_only_that(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("+xi",)).start()  # implicit VR little endian only
    route_everything_to(scp)
    paths = make_study(tmp_path / "study", count=4)  # explicit, implicit and RLE files
    study = receive_and_complete(broker_listener, paths)
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    received = scp.received()
    rle = StoredInstance.objects.get(transfer_syntax_uid=RLELossless)
    for path in paths:
        (copy,) = received[sop_instance_uid(path)]
        assert dcmread(copy).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        expected = dcmread(path)
        if expected.file_meta.TransferSyntaxUID == RLELossless:
            expected.decompress(generate_instance_uid=False, as_rgb=False)
        assert pixel_bytes(copy) == expected.PixelData
    assert DeliveredInstance.objects.get(instance=rle).transfer_syntax_uid == ImplicitVRLittleEndian
    scp.stop()


def test_it_gives_up_clearly_when_no_context_for_the_sop_class_is_accepted(broker_listener, tmp_path):
    # A pynetdicom destination that stores CT only: the MR image has no acceptable context at all.
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage

    ct_only = AE(ae_title="CTONLY")
    ct_only.add_supported_context(CTImageStorage)
    server = ct_only.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda event: 0x0000)])
    destination = Destination.objects.create(name="CTONLY", ae_title="CTONLY", host="127.0.0.1", port=server.server_address[1])
    RoutingRule.objects.create(name="all").destinations.add(destination)
    path = make_image(tmp_path / "mr.dcm", study_uid="1.2.3.9", series_uid="1.2.3.9.1", sop_class=MRImageStorage, modality="MR")
    study = receive_and_complete(broker_listener, [path], extra=())
    job = RoutingJob.objects.get(study=study)
    try:
        assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP
    finally:
        server.shutdown()
    assert "accepted no context for SOP class MR Image Storage" in RoutingJob.objects.get(pk=job.id).last_error


def test_it_applies_attribute_changes_on_the_way_out(broker_listener, tmp_path, sender):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    route_everything_to(scp, attribute_changes={"InstitutionName": "CITY CLINIC", "IssuerOfPatientID": "CITY"})
    paths = make_study(tmp_path / "study", count=2, mix=False)
    study = receive_and_complete(broker_listener, paths, extra=())

    assert delivery.run_job(RoutingJob.objects.get(study=study).id) == RoutingJob.State.DONE

    for copies in scp.received().values():
        copy = dcmread(copies[0])
        assert (copy.InstitutionName, copy.IssuerOfPatientID) == ("CITY CLINIC", "CITY")
    stored = dcmread(StoredInstance.objects.first() and (tmp_path / "storage" / StoredInstance.objects.first().path))
    assert stored.InstitutionName == "GENERAL HOSPITAL"  # the kept file is untouched
    assert sender.dcmsend_runs == []  # dcmsend sends files as they are: such a rule goes through pynetdicom
    scp.stop()


def test_it_sends_only_the_late_instance_after_the_study_was_routed(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    route_everything_to(scp)
    paths = make_study(tmp_path / "study", count=2, mix=False)
    study = receive_and_complete(broker_listener, paths, extra=())
    job = RoutingJob.objects.get(study=study)
    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    late = make_image(tmp_path / "late.dcm", study_uid=study.study_instance_uid, series_uid="1.2.3.10.1", number=9)
    assert storescu(broker_listener, [late]).returncode == 0
    job.refresh_from_db()
    assert job.state == RoutingJob.State.WAITING

    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    received = scp.received()
    assert len(received) == 3 and all(len(copies) == 1 for copies in received.values())
    scp.stop()


def test_it_forwards_a_jpeg_baseline_image_as_it_was_stored(broker_listener, tmp_path):
    from pydicom.uid import JPEGBaseline8Bit

    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    route_everything_to(scp)
    path = make_jpeg_baseline(tmp_path / "jpeg.dcm", study_uid="1.2.3.11", series_uid="1.2.3.11.1")
    study = receive_and_complete(broker_listener, [path], extra=("-xy",))
    assert StoredInstance.objects.get().transfer_syntax_uid == JPEGBaseline8Bit

    assert delivery.run_job(RoutingJob.objects.get(study=study).id) == RoutingJob.State.DONE

    (copy,) = scp.received()[sop_instance_uid(path)]
    assert dcmread(copy).file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert pixel_bytes(copy) == pixel_bytes(path)  # the same JPEG fragments, not recompressed
    scp.stop()


def test_it_gives_up_clearly_when_a_jpeg_image_meets_an_uncompressed_only_destination(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("+xi",)).start()
    route_everything_to(scp)
    path = make_jpeg_baseline(tmp_path / "jpeg.dcm", study_uid="1.2.3.12", series_uid="1.2.3.12.1")
    study = receive_and_complete(broker_listener, [path], extra=("-xy",))
    job = RoutingJob.objects.get(study=study)

    assert delivery.run_job(job.id) == RoutingJob.State.GAVE_UP

    assert "refused JPEG Baseline (Process 1) and it cannot be decompressed here" in RoutingJob.objects.get(pk=job.id).last_error
    assert scp.received() == {}
    scp.stop()


def test_it_retries_when_the_destination_answers_a_failure_status(broker_listener, tmp_path, settings):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage

    settings.BROKER_ROUTING_BACKOFF_SECONDS = 0
    answers = {"status": 0xA700}
    received = []

    def store(event):
        if answers["status"] == 0x0000:
            received.append(event.request.AffectedSOPInstanceUID)
        return answers["status"]

    full = AE(ae_title="FULL")
    full.add_supported_context(CTImageStorage)
    server = full.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, store)])
    destination = Destination.objects.create(name="FULL", ae_title="FULL", host="127.0.0.1", port=server.server_address[1])
    RoutingRule.objects.create(name="all").destinations.add(destination)
    paths = make_study(tmp_path / "study", count=2, mix=False)
    study = receive_and_complete(broker_listener, paths, extra=())
    job = RoutingJob.objects.get(study=study)
    try:
        assert delivery.run_job(job.id) == RoutingJob.State.FAILED
        job.refresh_from_db()
        assert "2 instances refused" in job.last_error and "status 0xA700" in job.last_error
        assert (job.sent, DeliveredInstance.objects.filter(job=job).count()) == (0, 0)

        answers["status"] = 0x0000
        assert delivery.run_job(job.id) == RoutingJob.State.DONE
    finally:
        server.shutdown()
    assert sorted(received) == sorted(sop_instance_uid(p) for p in paths)
    assert RoutingJob.objects.get(pk=job.id).sent == 2
