"""The whole chain with a real Redis-backed Celery worker: a study stored by storescu, completed, routed to a
storescp by the worker, and both IANs (complete, routed) delivered by the worker to a subscriber that was down
when they were made and came up later: retried, nothing lost."""
import pytest

from broker.availability.models import AvailabilityNotification, IanSubscriber
from broker.core.work_queue import WorkState
from broker.routing import services
from broker.routing.models import Destination, RoutingJob, RoutingRule, Study
from tests.availability.support import IanScp
from tests.mpps.support import running
from tests.routing.support import StoreSCP, make_study, point_celery_at, storescu, wait_until
from tests.services import free_port

pytestmark = [pytest.mark.dcmtk, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(180)]

QUICK_RETRIES = {"BROKER_OUTBOUND_RETRY_BASE_SECONDS": "1", "BROKER_OUTBOUND_RETRY_MAX_SECONDS": "2",
                 "BROKER_OUTBOUND_SWEEP_SECONDS": "1", "BROKER_OUTBOUND_DICOM_TIMEOUT": "5"}


def test_the_worker_delivers_both_ians_once_the_subscriber_is_up(broker_listener, redis_db, celery_worker_factory,
                                                                   tmp_path):
    point_celery_at(redis_db)
    port = free_port()  # the subscriber is down for now
    IanSubscriber.objects.create(name="RIS", ae_title="RISIAN", host="127.0.0.1", port=port,
                                 trigger=IanSubscriber.Trigger.BOTH)
    pacs = StoreSCP(tmp_path / "pacs").start()
    destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=pacs.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    celery_worker_factory(redis_db, **QUICK_RETRIES)
    paths = make_study(tmp_path / "s", count=2, mix=False)
    assert storescu(broker_listener, paths).returncode == 0

    services.mark_study_complete(Study.objects.get().id)  # the job and the first IAN are enqueued on commit

    wait_until(lambda: RoutingJob.objects.filter(state=RoutingJob.State.DONE).exists(), 60, message="study routed")
    # A failed try leaves its error on the row whatever state the retries have reached by the time we look.
    wait_until(lambda: AvailabilityNotification.objects.filter(attempts__gte=1).exclude(last_error="").exists(), 30,
               message="a failed IAN while the subscriber is down")
    with running(IanScp(port=port)) as scp:
        wait_until(lambda: AvailabilityNotification.objects.filter(state=WorkState.SENT).count() == 2, 60,
                   message="both IANs delivered")
        received = list(scp.received)
    rows = list(AvailabilityNotification.objects.order_by("pk"))
    assert [row.event for row in rows] == ["COMPLETE", "ROUTED"]  # in order, in their lane
    assert [uid for uid, _ in received] == [row.sop_instance_uid for row in rows]
    assert rows[0].attempts >= 2
    retrieve = [str(ds.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].RetrieveAETitle) for _, ds in received]
    assert retrieve[1] == "PACS"
    pacs.stop()
