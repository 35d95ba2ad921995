"""The MPPS journal over a real association: kept while the step is IN PROGRESS, purged once it is final and old."""
import pytest

from broker.dicom import listener
from broker.retention import kinds, purge
from mpps.models import MppsRequest
from tests.factories import make_step
from tests.mpps.support import Modality, n_create_dataset, n_set_dataset, series_item
from tests.retention.support import age
from tests.services import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def modality():
    server = listener.start("127.0.0.1", free_port())
    with Modality(server.server_address[1]) as scu:
        yield scu
    server.shutdown()


def test_it_keeps_the_journal_of_a_step_in_progress_until_it_is_final(modality, settings):
    settings.BROKER_RETENTION_MPPS_JOURNAL_DAYS = 30
    mpps_journal = kinds.by_name(["mpps_journal"])
    status, uid = modality.create(n_create_dataset(make_step()))
    assert status.Status == 0x0000
    assert modality.set(uid, n_set_dataset(series=[series_item()])).Status == 0x0000
    refused = modality.set(uid, n_set_dataset(status="BOGUS"))
    assert refused.Status != 0x0000
    journal = list(MppsRequest.objects.filter(sop_instance_uid=uid).order_by("pk"))
    assert [(row.operation, row.status == 0) for row in journal] == [("N-CREATE", True), ("N-SET", True), ("N-SET", False)]
    for row in journal:
        age(row, 60)

    assert purge.run(mpps_journal).deleted == {"mpps_journal": 0}
    assert MppsRequest.objects.filter(sop_instance_uid=uid).count() == 3

    assert modality.set(uid, n_set_dataset(status="COMPLETED", series=[series_item()])).Status == 0x0000
    assert purge.run(mpps_journal).deleted == {"mpps_journal": 3}
    assert [row.operation for row in MppsRequest.objects.filter(sop_instance_uid=uid)] == ["N-SET"]  # today's
