"""System events, each performed through its real interface: HL7 over MLLP, MWL C-FIND and MPPS over DICOM."""
import base64
from io import BytesIO

import pytest
from pydicom.filereader import read_dataset

from broker.audit import events, trail
from broker.core.hl7v2.mllp import MLLPClient
from broker.dicom import listener as dicom_listener
from broker.hl7.models import HL7Message
from broker.hl7.server import start_server
from tests.audit.support import coded, events_of, message_of
from tests.factories import make_order, make_patient, make_procedure, make_step
from tests.hl7.support import adt, msa, orm, pid
from tests.mpps.support import Modality, n_create_dataset, n_set_dataset, series_item
from tests.mwl.support import find, identifier, matches
from tests.waiting import wait_until


@pytest.fixture
def mllp(transactional_db):
    running = start_server("127.0.0.1", 0, block=False)
    yield running
    running.shutdown()


@pytest.fixture
def dicom_port(transactional_db):
    server = dicom_listener.start("127.0.0.1", 0)
    yield server.server_address[1]
    server.shutdown()


def send(listener, message: bytes) -> bytes:
    with MLLPClient("127.0.0.1", listener.port, timeout=30) as client:
        return client.send(message)


def test_an_applied_order_records_sender_control_id_patient_and_order(mllp):
    ack = send(mllp, orm(control_id="AUD-1", placer="PL-A1", accession="ACC-A1", patient=pid("P-AUD-1")))
    assert msa(ack) == ("AA", "AUD-1")
    [event] = events_of(events.HL7_ORDER)
    row = HL7Message.objects.get(control_id="AUD-1")
    assert (event.actor_ae, event.actor_address, event.patient_ids) == ("TEST_RIS|HOSP", row.peer, ["P-AUD-1"])
    assert event.detail["action"] == "C" and event.outcome == 0
    assert {"type": "hl7", "id": row.pk, "control_id": "AUD-1", "message_type": "ORM^O01"} in event.object_refs
    order = next(o for o in event.object_refs if o["type"] == "order")
    assert (order["accession"], order["placer"], order["id"]) == ("ACC-A1", "PL-A1", row.order_id)
    assert coded(message_of(event), "EventIdentification/EventID")[0] == "110109"
    assert trail.verify().intact


def test_a_cancel_is_a_delete_and_an_adt_a_patient_record(mllp):
    send(mllp, orm(control_id="AUD-2", placer="PL-A2", accession="ACC-A2", patient=pid("P-AUD-2")))
    assert msa(send(mllp, orm(control="CA", control_id="AUD-3", placer="PL-A2", accession="ACC-A2",
                              patient=pid("P-AUD-2"), status="CA")))[0] == "AA"
    assert [e.detail["action"] for e in events_of(events.HL7_ORDER)] == ["C", "D"]
    assert msa(send(mllp, adt("A08", patient=pid("P-AUD-2", name="DOE^JANINE"), control_id="AUD-4")))[0] == "AA"
    [patient_event] = events_of(events.HL7_PATIENT)
    assert patient_event.patient_ids == ["P-AUD-2"]


def test_a_refused_message_is_recorded_with_its_refusal_and_nothing_applied(mllp):
    ack = send(mllp, orm(control_id="AUD-5", patient=pid("")))  # no patient ID: AE
    assert msa(ack)[0] == "AE"
    [event] = events_of(events.HL7_REFUSED)
    assert event.outcome == 4 and event.actor_ae == "TEST_RIS|HOSP"
    assert event.detail["ack"] == "AE" and event.detail["error_code"]
    assert event.object_refs[0]["control_id"] == "AUD-5"
    assert not events_of(events.HL7_ORDER)
    message_of(event)


def test_a_worklist_query_records_the_calling_ae_address_and_the_patients_returned(dicom_port):
    shown = [make_step(make_procedure(make_order(make_patient(patient_id=f"MWL-{n}")))) for n in range(2)]
    answers = find(dicom_port, identifier(sps={"ScheduledStationAETitle": "CT01"}), calling_ae="CT01")
    assert len(matches(answers)) == 2
    event = wait_until(lambda: next(iter(events_of(events.MWL_QUERY)), None), message="the query's audit event")
    assert (event.actor_ae, event.actor_address.startswith("127.0.0.1")) == ("CT01", True)
    assert event.patient_ids == ["MWL-0", "MWL-1"]
    assert event.detail == {"status": 0, "matches": 2, "patients": 2}
    accessions = {o["accession"] for o in event.object_refs if o["type"] == "order"}
    assert accessions == {s.requested_procedure.order.accession_number for s in shown}
    document = message_of(event)
    assert coded(document, "EventIdentification/EventID")[0] == "110112"
    assert {o.get("ParticipantObjectID") for o in document.findall("ParticipantObjectIdentification")
            if o.get("ParticipantObjectTypeCodeRole") == "1"} == {"MWL-0", "MWL-1"}
    [query] = [o for o in document.findall("ParticipantObjectIdentification")
               if o.get("ParticipantObjectTypeCodeRole") == "24"]
    sent = read_dataset(BytesIO(base64.b64decode(query.find("ParticipantObjectQuery").text)),
                        is_implicit_VR=False, is_little_endian=True)
    assert sent.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CT01"  # the identifier as sent


def test_a_refused_worklist_query_is_recorded_as_a_failure(dicom_port):
    bad = identifier(sps={"ScheduledProcedureStepStartDate": "2026-13-45"})
    answers = find(dicom_port, bad, calling_ae="CT09")
    assert answers[-1][0] not in (0x0000, 0xFF00)
    event = wait_until(lambda: next(iter(events_of(events.MWL_QUERY)), None))
    assert (event.outcome, event.actor_ae, event.patient_ids) == (4, "CT09", [])


def test_mpps_create_and_set_are_recorded_with_patient_and_study(dicom_port):
    step = make_step(make_procedure(make_order(make_patient(patient_id="MPPS-P1"))))
    with Modality(dicom_port) as modality:
        status, uid = modality.create(n_create_dataset(step))
        assert status.Status == 0
        assert modality.set(uid, n_set_dataset("COMPLETED", series=[series_item()])).Status == 0
        assert modality.set("1.2.3.404", n_set_dataset("COMPLETED", series=[series_item()])).Status == 0x0112
    created, completed, refused = events_of(events.MPPS_CREATE) + events_of(events.MPPS_SET)
    assert (created.actor_ae, created.patient_ids, created.object_refs[0]["uid"]) == ("CT01", ["MPPS-P1"], uid)
    assert created.object_refs[0]["study_instance_uid"] == step.requested_procedure.study_instance_uid
    assert (completed.object_refs[0]["status"], completed.outcome) == ("COMPLETED", 0)
    assert (refused.outcome, refused.detail["status"], refused.patient_ids) == (4, 0x0112, [])
    for recorded in (created, completed, refused):
        assert coded(message_of(recorded), "EventIdentification/EventID")[0] == "110111"
    assert trail.verify().intact
