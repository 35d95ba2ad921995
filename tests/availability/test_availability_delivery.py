"""IAN over real associations: a study sent to the broker's listener with storescu, completed, then notified to a
real pynetdicom IAN SCP; on routed to a real storescp; retried while the subscriber is down; failures recorded."""
from datetime import timedelta

import pytest
from django.utils import timezone
from pydicom import dcmread
from pydicom.uid import generate_uid

from broker.availability import sending, services
from broker.availability.models import IAN_NOTIFICATIONS, AvailabilityNotification, IanSubscriber
from broker.core.work_queue import WorkState
from broker.routing import completion, delivery
from broker.routing.models import Destination, RoutingRule, Study
from mpps.models import PerformedProcedureStep
from tests.availability.support import IanScp
from tests.factories import make_procedure
from tests.mpps.support import running
from tests.routing.support import StoreSCP, make_study, storescu
from tests.services import free_port

pytestmark = pytest.mark.dcmtk

INSTANCE_AVAILABILITY = "1.2.840.10008.5.1.4.33"


def subscriber(port: int, **fields) -> IanSubscriber:
    values = {"name": f"RIS{port}", "ae_title": "RISIAN", "host": "127.0.0.1", "port": port}
    values.update(fields)
    return IanSubscriber.objects.create(**values)


def send_study(port: int, directory, **attributes):
    paths = make_study(directory, count=3, **attributes)
    result = storescu(port, paths)
    assert result.returncode == 0, result.stderr
    return paths


def complete_quietly() -> Study:
    assert completion.complete_quiet_studies(now=timezone.now() + timedelta(days=1)) == 1
    return Study.objects.get()


def references(ds) -> dict[str, set[tuple[str, str, str, str]]]:
    return {series.SeriesInstanceUID: {(sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID,
                                        sop.InstanceAvailability, str(sop.RetrieveAETitle))
                                       for sop in series.ReferencedSOPSequence}
            for series in ds.ReferencedSeriesSequence}


def expected_references(paths, retrieve: str) -> dict[str, set[tuple[str, str, str, str]]]:
    expected: dict[str, set] = {}
    for path in paths:
        ds = dcmread(path, stop_before_pixels=True)
        expected.setdefault(ds.SeriesInstanceUID, set()).add((ds.SOPClassUID, ds.SOPInstanceUID, "ONLINE", retrieve))
    return expected


def test_it_notifies_the_subscriber_of_a_complete_study(broker_listener, tmp_path, ian_scp, settings):
    settings.BROKER_AE_TITLE = "BROKER"
    procedure = make_procedure()
    order = procedure.order
    step = PerformedProcedureStep.objects.create(sop_instance_uid=generate_uid(), calling_ae="MODALITY1",
                                                 study_instance_uid=procedure.study_instance_uid,
                                                 status=PerformedProcedureStep.Status.IN_PROGRESS)
    subscriber(ian_scp.port)
    paths = send_study(broker_listener, tmp_path / "s", study_uid=procedure.study_instance_uid,
                       AccessionNumber=order.accession_number)

    study = complete_quietly()
    row, = AvailabilityNotification.objects.all()
    assert (row.event, row.study_id, row.instance_count, row.state) == ("COMPLETE", study.pk, 3, WorkState.PENDING)
    assert sending.deliver(row.pk).sent

    (uid, ds), = ian_scp.received
    assert uid == row.sop_instance_uid
    assert ds.StudyInstanceUID == procedure.study_instance_uid
    assert references(ds) == expected_references(paths, "BROKER")
    (pps,) = ds.ReferencedPerformedProcedureStepSequence
    assert (pps.ReferencedSOPClassUID, pps.ReferencedSOPInstanceUID) == ("1.2.840.10008.3.1.2.3.3", step.sop_instance_uid)
    assert (ds.PatientID, str(ds.PatientName)) == (order.patient.patient_id, order.patient.name)
    (request,) = ds.ReferencedRequestSequence
    assert (request.AccessionNumber, request.RequestedProcedureID, request.PlacerOrderNumberImagingServiceRequest) == (
        order.accession_number, procedure.requested_procedure_id, order.placer_order_number)
    row.refresh_from_db()
    assert (row.state, row.response_status, row.attempts) == (WorkState.SENT, 0x0000, 1)


def test_it_sends_an_empty_step_sequence_without_mpps(broker_listener, tmp_path, ian_scp):
    subscriber(ian_scp.port)
    send_study(broker_listener, tmp_path / "s")
    complete_quietly()
    assert sending.deliver(AvailabilityNotification.objects.get().pk).sent
    (_, ds), = ian_scp.received
    assert "ReferencedPerformedProcedureStepSequence" in ds and len(ds.ReferencedPerformedProcedureStepSequence) == 0


def test_it_notifies_once_routed_naming_the_destination(broker_listener, tmp_path, ian_scp):
    on_complete = IanScp(ae_title="REPORTING")
    with running(on_complete):
        subscriber(ian_scp.port, trigger=IanSubscriber.Trigger.ROUTED)
        subscriber(on_complete.port, name="REPORTING", trigger=IanSubscriber.Trigger.COMPLETE)
        pacs = StoreSCP(tmp_path / "pacs", ae_title="PACS").start()
        destination = Destination.objects.create(name="PACS", ae_title="PACS", host="127.0.0.1", port=pacs.port)
        RoutingRule.objects.create(name="all").destinations.add(destination)
        paths = send_study(broker_listener, tmp_path / "s")
        study = complete_quietly()
        complete_row, = AvailabilityNotification.objects.all()
        assert complete_row.subscriber.name == "REPORTING"  # the on-routed subscriber waits for the routing

        job, = study.routing_jobs.all()
        assert delivery.run_job(job.pk) == "DONE"

        routed_row = AvailabilityNotification.objects.get(event="ROUTED")
        assert routed_row.subscriber.port == ian_scp.port
        assert sending.deliver(routed_row.pk).sent and sending.deliver(complete_row.pk).sent
        (_, routed), = ian_scp.received
        assert references(routed) == expected_references(paths, "PACS")
        (_, completed), = on_complete.received
        assert references(completed) == expected_references(paths, "BROKER")


def test_it_delivers_once_the_subscriber_is_up_again(broker_listener, tmp_path, settings):
    settings.BROKER_OUTBOUND_RETRY_BASE_SECONDS = 10
    port = free_port()  # nobody listens there yet
    subscriber(port)
    paths = send_study(broker_listener, tmp_path / "s")
    complete_quietly()
    row = AvailabilityNotification.objects.get()

    outcome = sending.deliver(row.pk)
    assert not outcome.sent and outcome.retry_in == 10
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and "not established" in row.last_error

    with running(IanScp(port=port)) as scp:
        # Time passes; the sweep finds the due row (its retry timer may have been lost with the worker).
        AvailabilityNotification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        _released, requeued = IAN_NOTIFICATIONS.sweep(sending.deliver)
        assert requeued == 1
        (uid, ds), = scp.received
    row.refresh_from_db()
    assert (row.state, row.attempts, uid) == (WorkState.SENT, 2, row.sop_instance_uid)
    assert references(ds) == expected_references(paths, settings.BROKER_AE_TITLE)


def test_it_records_the_subscribers_failure_and_its_error_comment(broker_listener, tmp_path, ian_scp):
    ian_scp.answer, ian_scp.comment = 0x0110, "study unknown to the RIS"
    subscriber(ian_scp.port)
    send_study(broker_listener, tmp_path / "s")
    complete_quietly()
    row = AvailabilityNotification.objects.get()

    outcome = sending.deliver(row.pk)

    assert not outcome.sent and outcome.retry_in is not None
    row.refresh_from_db()
    assert (row.state, row.response_status, row.response_comment) == (WorkState.FAILED, 0x0110, "study unknown to the RIS")
    assert row.last_error.startswith("subscriber answered 0x0110 study unknown to the RIS")
    assert ian_scp.received == [] and ian_scp.calls == 1


def test_it_takes_a_duplicate_answer_to_a_resent_notification_as_delivered(broker_listener, tmp_path, ian_scp):
    subscriber(ian_scp.port)
    send_study(broker_listener, tmp_path / "s")
    complete_quietly()
    row = AvailabilityNotification.objects.get()
    ian_scp.answer = 0x0111
    assert not sending.deliver(row.pk).sent  # a first try answered "duplicate" is a real failure
    AvailabilityNotification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert sending.deliver(row.pk).sent  # on a retry it means the earlier try reached the subscriber
    row.refresh_from_db()
    assert row.response_status == 0x0111 and "already had" in row.response_comment


def test_it_tells_no_disabled_subscriber(broker_listener, tmp_path, ian_scp):
    subscriber(ian_scp.port, enabled=False)
    send_study(broker_listener, tmp_path / "s")
    complete_quietly()
    assert not AvailabilityNotification.objects.exists()


def test_the_operator_retries_and_gives_up(db, ian_scp):
    study = Study.objects.create(study_instance_uid="1.2.3", last_received_at=timezone.now())
    first, second = (AvailabilityNotification.objects.create(
        subscriber=subscriber(ian_scp.port) if n == 0 else IanSubscriber.objects.get(), study=study, event=event,
        sop_instance_uid=generate_uid(), dataset={}, state=WorkState.FAILED)
        for n, event in enumerate(("COMPLETE", "ROUTED")))
    assert services.give_up(first.pk)
    assert services.retry(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (WorkState.GAVE_UP, WorkState.PENDING)
    assert not services.give_up(first.pk)  # given up already


def test_the_conformance_statement_lists_what_the_scu_proposes():
    from broker.conformance.document import render_markdown
    from broker.conformance.statement import build

    statement = render_markdown(build())
    assert sending.IAN_SCU.sop_classes == (INSTANCE_AVAILABILITY,)
    assert "Instance Availability Notification SCU (IAN)" in statement
    assert INSTANCE_AVAILABILITY in statement


def test_it_notifies_a_tls_subscriber_over_tls(broker_listener, tmp_path, ca):
    from broker.core.tls import server_context

    cert, key = ca.issue("risian", subject_alt_name="IP:127.0.0.1")
    client_cert, client_key = ca.issue("BROKER", client=True)
    with running(IanScp(ssl_context=server_context(str(cert), str(key), str(ca.certificate)))) as scp:
        subscriber(scp.port, use_tls=True, tls_ca_file=str(ca.certificate), tls_cert_file=str(client_cert),
                   tls_key_file=str(client_key))
        paths = send_study(broker_listener, tmp_path / "s")
        complete_quietly()
        assert sending.deliver(AvailabilityNotification.objects.get().pk).sent
        (_, ds), = scp.received
    assert references(ds) == expected_references(paths, "BROKER")


def test_a_plain_subscriber_row_does_not_reach_a_tls_only_scp(broker_listener, tmp_path, ca):
    from broker.core.tls import server_context

    cert, key = ca.issue("risian", subject_alt_name="IP:127.0.0.1")
    with running(IanScp(ssl_context=server_context(str(cert), str(key)))) as scp:
        subscriber(scp.port)
        send_study(broker_listener, tmp_path / "s")
        complete_quietly()
        row = AvailabilityNotification.objects.get()
        assert not sending.deliver(row.pk).sent
        assert scp.received == []
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and "not established" in row.last_error


def test_a_study_completed_by_storage_commitment_is_notified(broker_listener, tmp_path, ian_scp, settings):
    from tests.commitment.support import Modality, action_information

    settings.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS = 0
    subscriber(ian_scp.port)
    paths = send_study(broker_listener, tmp_path / "s")
    references_sent = [(str(ds.SOPClassUID), str(ds.SOPInstanceUID))
                       for ds in (dcmread(p, stop_before_pixels=True) for p in paths)]
    modality = Modality(broker_listener)
    modality.request(action_information(references_sent), wait_for_report=20)

    assert Study.objects.get().completion_reason == Study.CompletionReason.COMMITMENT
    assert sending.deliver(AvailabilityNotification.objects.get(event="COMPLETE").pk).sent
    (_, ds), = ian_scp.received
    assert references(ds) == expected_references(paths, settings.BROKER_AE_TITLE)
