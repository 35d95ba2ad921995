"""The MOVE action: the broker asks an archive (a pynetdicom Q/R SCP here) to C-MOVE the study to a destination."""
import pytest
from pydicom import dcmread
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from broker.routing import delivery, services
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.routing.support import StoreSCP, make_study, sop_instance_uid, storescu

pytestmark = pytest.mark.dcmtk


@pytest.fixture
def archive(tmp_path):
    """An archive holding files, knowing move destinations by AE title; yields (server, known destinations, requests)."""
    known, requests, files = {}, [], []

    def handle_move(event):
        requests.append((event.move_destination.decode().strip() if isinstance(event.move_destination, bytes)
                         else event.move_destination.strip(), event.identifier.StudyInstanceUID))
        destination = known.get(requests[-1][0])
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801 Move Destination Unknown
            return
        yield destination
        matching = [p for p in files if dcmread(p, stop_before_pixels=True).StudyInstanceUID == requests[-1][1]]
        yield len(matching)
        for path in matching:
            yield 0xFF00, dcmread(path)

    ae = AE(ae_title="ARCHIVE")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    ae.requested_contexts = StoragePresentationContexts
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_MOVE, handle_move)])
    yield server, known, requests, files
    server.shutdown()


def move_rule_to(scp, server) -> None:
    source = Destination.objects.create(name="ARCHIVE", ae_title="ARCHIVE", host="127.0.0.1", port=server.server_address[1])
    pacs = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="move", action=RoutingRule.Action.MOVE, move_source=source).destinations.add(pacs)


def test_it_asks_the_archive_to_move_the_study_to_the_destination(broker_listener, archive, tmp_path):
    server, known, requests, files = archive
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    known["PACS"] = ("127.0.0.1", scp.port)
    move_rule_to(scp, server)
    paths = make_study(tmp_path / "s", count=3, mix=False)
    files.extend(paths)
    assert storescu(broker_listener, paths).returncode == 0
    study = services.mark_study_complete(Study.objects.get().id)
    job = RoutingJob.objects.get()

    assert delivery.run_job(job.id) == RoutingJob.State.DONE

    assert requests == [("PACS", study.study_instance_uid)]
    assert set(scp.received()) == {sop_instance_uid(p) for p in paths}
    job.refresh_from_db()
    assert (job.action, job.sent, job.total) == ("MOVE", 3, 3)
    scp.stop()


def test_it_retries_when_the_archive_does_not_know_the_destination(broker_listener, archive, tmp_path):
    server, known, requests, files = archive
    scp = StoreSCP(tmp_path / "pacs")
    move_rule_to(scp, server)
    assert storescu(broker_listener, make_study(tmp_path / "s", count=1, mix=False)).returncode == 0
    services.mark_study_complete(Study.objects.get().id)
    job = RoutingJob.objects.get()

    assert delivery.run_job(job.id) == RoutingJob.State.FAILED
    assert "does not know the move destination PACS (0xA801)" in RoutingJob.objects.get(pk=job.id).last_error
