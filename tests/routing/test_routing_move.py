"""The MOVE action: the broker asks an archive (a pynetdicom Q/R SCP here) to C-MOVE the study to a destination."""
import pytest

from broker.routing import delivery, services
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.routing.support import StoreSCP, make_study, sop_instance_uid, storescu

pytestmark = pytest.mark.dcmtk




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
