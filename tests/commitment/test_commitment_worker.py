"""A storage commitment report survives a worker restart: the row stays, the sweep finds it, a retry delivers it."""
import pytest
import redis
from pydicom import dcmread

from broker.commitment.models import StorageCommitment
from broker.core.work_queue import WorkState
from broker.dicom.models import RemoteAE
from tests.commitment.support import Modality, ModalityListener, action_information
from tests.routing.support import make_image, point_celery_at, storescu
from tests.waiting import wait_until

pytestmark = [pytest.mark.dcmtk, pytest.mark.redis, pytest.mark.slow]

WORKER_ENV = {"BROKER_COMMITMENT_RETRY_BASE_SECONDS": "1", "BROKER_COMMITMENT_RETRY_MAX_SECONDS": "2",
              "BROKER_COMMITMENT_SWEEP_SECONDS": "1", "BROKER_COMMITMENT_DICOM_TIMEOUT": "5",
              "BROKER_COMMITMENT_STUCK_SECONDS": "3"}


def test_it_delivers_the_report_after_the_worker_is_killed_and_its_messages_lost(
        broker_listener, redis_db, celery_worker_factory, tmp_path):
    point_celery_at(redis_db)
    modality_scp = ModalityListener()  # not listening yet: the first tries fail
    RemoteAE.objects.create(ae_title="MODALITY1", host="127.0.0.1", port=modality_scp.port)
    path = make_image(tmp_path / "a.dcm", study_uid="1.2.826.0.1.3680043.10.2", series_uid="1.2.826.0.1.3680043.10.2.1")
    assert storescu(broker_listener, [path]).returncode == 0
    worker = celery_worker_factory(redis_db, **WORKER_ENV)
    ds = dcmread(path, stop_before_pixels=True)

    # Released at once: the listener hands the report to the worker, whose association is refused.
    Modality(broker_listener).request(action_information([(ds.SOPClassUID, ds.SOPInstanceUID)]))
    wait_until(lambda: StorageCommitment.objects.filter(attempts__gte=1, state=WorkState.FAILED).exists(), 60,
               message="a failed first try")
    worker.kill()
    redis.Redis.from_url(redis_db).flushdb()  # its retry message is gone too: only the row remains
    assert StorageCommitment.objects.get().state in (WorkState.FAILED, WorkState.RUNNING)

    modality_scp.start()
    try:
        celery_worker_factory(redis_db, **WORKER_ENV)
        wait_until(lambda: StorageCommitment.objects.filter(state=WorkState.SENT).exists(), 60, message="report sent")
        (report,) = modality_scp.reports
        assert report.event_type == 1 and report.on_new_association
        assert report.committed == {(ds.SOPClassUID, ds.SOPInstanceUID)}
        assert StorageCommitment.objects.get().reported_via == "NEW"
    finally:
        modality_scp.stop()
