"""Staff see open and failed storage commitments on the routing page and in the admin."""
from datetime import timedelta

import pytest
from django.utils import timezone

from broker.commitment.models import RefusedCommitmentRequest, StorageCommitment
from broker.core.work_queue import WorkState
from tests.dashboard.support import make_user

pytestmark = pytest.mark.django_db


def commitment(transaction_uid: str, **fields) -> StorageCommitment:
    return StorageCommitment.objects.create(transaction_uid=transaction_uid, calling_ae="CT01",
                                            references=[["1.2.840.10008.5.1.4.1.1.2", "1.2.3.1"]],
                                            answer_by=timezone.now() + timedelta(seconds=60), **fields)


def test_it_lists_open_and_failed_commitments_on_the_routing_page(client):
    commitment("1.2.3.100")  # waiting for its instances
    commitment("1.2.3.101", state=WorkState.FAILED, attempts=2, last_error="association with CT01 not established")
    commitment("1.2.3.102", state=WorkState.SENT, decided_at=timezone.now(), event_type=2,
               failed=[["1.2.840.10008.5.1.4.1.1.2", "1.2.3.1", 0x0112]])
    commitment("1.2.3.103", state=WorkState.SENT, decided_at=timezone.now(), event_type=1,
               committed=[["1.2.840.10008.5.1.4.1.1.2", "1.2.3.1"]])
    client.force_login(make_user("viewer"))

    html = client.get("/queues/routing/").content.decode()

    assert "1.2.3.100" in html and "waiting for instances" in html
    assert "1.2.3.101" in html and "association with CT01 not established" in html and "not decided" in html
    assert "1.2.3.102" in html and "1 failed" in html
    assert "1.2.3.103" not in html  # reported, all committed: nothing to watch


def test_it_shows_commitments_and_refusals_read_only_in_the_admin(admin_client):
    row = commitment("1.2.3.200", state=WorkState.SENT, decided_at=timezone.now(), event_type=2,
                     failed=[["1.2.840.10008.5.1.4.1.1.4", "1.2.3.1", 0x0119]])
    RefusedCommitmentRequest.objects.create(calling_ae="CT01", status=0x0115,
                                            error_comment="TransactionUID (0008,1195) missing")

    listing = admin_client.get("/admin/commitment/storagecommitment/").content.decode()
    refusals = admin_client.get("/admin/commitment/refusedcommitmentrequest/").content.decode()

    assert "0 committed, 1 failed (0x0119 stored with another SOP class)" in listing
    assert "0x0115" in refusals and "TransactionUID (0008,1195) missing" in refusals
    assert admin_client.get(f"/admin/commitment/storagecommitment/{row.pk}/delete/").status_code == 403


def test_it_lists_refused_requests_and_given_up_reports_as_problems(client):
    RefusedCommitmentRequest.objects.create(calling_ae="CT01", transaction_uid="1.2.3.300", status=0x0123,
                                            error_comment="No such action: Action Type ID 2 (only 1)")
    commitment("1.2.3.301", state=WorkState.GAVE_UP, attempts=30, last_error="association with CT01 not established")
    client.force_login(make_user("viewer"))

    html = client.get("/problems/").content.decode()

    assert "1.2.3.300" in html and "0x0123" in html and "No such action" in html
    assert "1.2.3.301" in html and "association with CT01 not established" in html
