"""Studies received (first instance, completion), routing deliveries and refused associations, over real DICOM."""
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from broker.audit import events, trail
from broker.routing import delivery
from broker.routing.models import Destination, RoutingJob, RoutingRule
from tests.audit.support import coded, events_of, message_of
from tests.routing.support import StoreSCP, make_study, receive_and_complete
from tests.waiting import wait_until

pytestmark = pytest.mark.dcmtk


def test_a_study_is_recorded_once_at_its_first_instance_and_once_complete_then_each_delivery(broker_listener, tmp_path):
    scp = StoreSCP(tmp_path / "pacs", options=("+xa",)).start()
    destination = Destination.objects.create(name="PACS", ae_title=scp.ae_title, host="127.0.0.1", port=scp.port)
    RoutingRule.objects.create(name="all").destinations.add(destination)
    paths = make_study(tmp_path / "study", count=4, mix=False, PatientID="STUDY-P1")
    study = receive_and_complete(broker_listener, paths, extra=())

    [begun] = events_of(events.STUDY_BEGIN)  # one for the study, not one per instance
    assert (begun.actor_ae, begun.patient_ids) == ("MODALITY1", ["STUDY-P1"])
    assert begun.object_refs[0]["uid"] == study.study_instance_uid
    [received] = events_of(events.STUDY_RECEIVED)
    assert received.object_refs[0]["instances"] == 4 and received.detail["completion_reason"] == "OPERATOR"

    job = RoutingJob.objects.get(study=study)
    assert delivery.run_job(job.id) == RoutingJob.State.DONE
    [delivered] = events_of(events.ROUTING_DELIVERED)
    assert (delivered.actor_ae, delivered.actor_address) == ("PACS", f"127.0.0.1:{scp.port}")
    assert delivered.detail["sent"] == 4 and delivered.patient_ids == ["STUDY-P1"]
    assert {"type": "destination", "name": "PACS", "ae": "PACS", "job_id": job.pk} in delivered.object_refs
    assert [coded(message_of(e), "EventIdentification/EventID")[0] for e in (begun, received, delivered)] == \
        ["110102", "110104", "110104"]
    assert trail.verify().intact
    scp.stop()


def test_a_refused_association_is_a_security_alert(broker_listener, settings):
    settings.BROKER_REQUIRE_KNOWN_AE = True
    ae = AE(ae_title="INTRUDER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", broker_listener, ae_title="BROKER")
    assert assoc.is_rejected
    event = wait_until(lambda: next(iter(events_of(events.ASSOCIATION_REFUSED)), None), message="the refusal's event")
    assert (event.actor_ae, event.actor_address, event.outcome) == ("INTRUDER", "127.0.0.1", 4)
    assert "BROKER_REQUIRE_KNOWN_AE" in event.detail["reason"] and event.detail["called_ae"] == "BROKER"
    assert coded(message_of(event), "EventIdentification/EventTypeCode")[0] == "110126"
