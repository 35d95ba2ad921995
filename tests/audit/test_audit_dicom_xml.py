"""The DICOM form of each event kind (PS3.15 A.5): a table of cases, each schema-valid; and `audit export`."""
import base64
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from broker.audit import events, trail
from broker.audit.dicom_xml import AuditSource, network_access_point, to_xml
from broker.audit.models import AuditEvent
from tests.audit.support import coded, valid_message

SOURCE = AuditSource("BROKER", "RADIOLOGY", "broker.example")
WHEN = datetime(2026, 3, 17, 8, 30, 0, 123456, tzinfo=UTC)
STUDY = {"type": "study", "uid": "1.2.3.4", "id": 7, "accession": "ACC1",
         "sop_classes": {"1.2.840.10008.5.1.4.1.1.2": 3}, "instances": 3}


def event(kind, *, user="", ae="", address="", patient_ids=(), objects=(), detail=None, outcome=0):
    return {"id": 1, "time": WHEN, "kind": kind, "outcome": outcome, "actor_user": user, "actor_ae": ae,
            "actor_address": address, "patient_ids": list(patient_ids), "object_refs": list(objects),
            "detail": detail or {}}


# kind, event values → EventID, EventActionCode, EventTypeCode (or None), the actor's RoleIDCode (or None)
CASES = [
    (event(events.BROKER_START, address="broker.example", detail={"configuration": {"BROKER_AE_TITLE": "BROKER"}}),
     "110100", "E", "110120", None),
    (event(events.BROKER_STOP, address="broker.example"), "110100", "E", "110121", None),
    (event(events.CERTIFICATE_PROBLEM, outcome=8, detail={"problem": "expired"}), "110113", "E", "110126", None),
    (event(events.ASSOCIATION_REFUSED, ae="INTRUDER", address="10.0.0.9", outcome=4, detail={"reason": "unknown AE"}),
     "110113", "E", "110126", None),
    (event(events.HL7_ORDER, ae="RIS|HOSP", address="10.0.0.2:40000", patient_ids=["P1"],
           objects=[{"type": "hl7", "id": 3, "control_id": "MSG1", "message_type": "ORM^O01"},
                    {"type": "order", "id": 4, "accession": "ACC1", "placer": "PL1"}], detail={"action": "C"}),
     "110109", "C", None, "110153"),
    (event(events.HL7_PATIENT, ae="RIS|HOSP", patient_ids=["P1", "P0"]), "110110", "U", None, "110153"),
    (event(events.HL7_REFUSED, ae="RIS", outcome=4, objects=[{"type": "hl7", "id": 5, "control_id": "X"}],
           detail={"ack": "AE", "error_code": "101", "error_location": "PID^1^3"}), "110109", "E", None, "110153"),
    (event(events.MWL_QUERY, ae="CT01", address="10.0.0.21:3333", patient_ids=["P1", "P2"],
           objects=[{"type": "query", "id": 9, "sop_class_uid": "1.2.840.10008.5.1.4.31", "keys": "PatientID=P*"}]),
     "110112", "E", "RAD-5", "110153"),
    (event(events.MPPS_CREATE, ae="CT01", patient_ids=["P1"],
           objects=[{"type": "mpps", "uid": "1.2.9", "study_instance_uid": "1.2.3.4", "accession_number": "ACC1"}]),
     "110111", "C", "RAD-6", "110153"),
    (event(events.MPPS_SET, ae="CT01", outcome=4, objects=[{"type": "mpps", "uid": "1.2.9"}],
           detail={"error_comment": "no such instance"}), "110111", "U", "RAD-7", "110153"),
    (event(events.STUDY_BEGIN, ae="CT01", patient_ids=["P1"], objects=[{**STUDY, "sop_classes": None}]),
     "110102", "E", None, "110153"),
    (event(events.STUDY_RECEIVED, ae="CT01", patient_ids=["P1"], objects=[STUDY]), "110104", "C", None, "110153"),
    (event(events.ROUTING_DELIVERED, ae="PACS", address="10.0.0.5:104", patient_ids=["P1"],
           objects=[STUDY, {"type": "destination", "name": "PACS", "ae": "PACS", "job_id": 2}]),
     "110104", "R", None, "110152"),
    (event(events.LOGIN, user="anna", address="10.1.1.1"), "110114", "E", "110122", None),
    (event(events.LOGIN_FAILED, user="anna", address="10.1.1.1", outcome=4), "110114", "E", "110122", None),
    (event(events.LOCKED_OUT, user="anna", address="10.1.1.1", outcome=8), "110113", "E", "LOCKOUT", None),
    (event(events.LOGOUT, user="anna", address="::1"), "110114", "E", "110123", None),
    (event(events.DASHBOARD_ACTION, user="otto", patient_ids=["P1"], objects=[{"type": "routing_job", "id": 2}],
           detail={"action_name": "retry routing job #2"}), "110109", "U", None, None),
    (event(events.ADMIN_CONFIGURATION, user="ada", objects=[{"type": "routing.destination", "id": 1, "name": "PACS"}],
           detail={"action": "U", "before": {"port": 104}, "after": {"port": 11112}}), "110113", "U", "110131", None),
    (event(events.ADMIN_CORRECTION, user="ada", patient_ids=["P1"],
           objects=[{"type": "worklist.scheduledprocedurestep", "id": 3, "name": "SPS1"}],
           detail={"action": "U", "before": {"station_ae_title": "CT01"}, "after": {"station_ae_title": "CT02"}}),
     "110109", "U", None, None),
    (event(events.ADMIN_ACTION, user="otto", objects=[{"type": "routing.routingjob", "id": 3, "name": "job"}],
           detail={"action": "E", "admin_action": "retry"}), "110109", "E", None, None),
    (event(events.VIEW_PATIENT, user="vera", patient_ids=["P1"]), "110110", "R", None, None),
    (event(events.VIEW_ORDER, user="vera", patient_ids=["P1"], objects=[{"type": "order", "id": 4, "accession": "A"}]),
     "110109", "R", None, None),
    (event(events.VIEW_HL7, user="vera", objects=[{"type": "hl7", "id": 3, "control_id": "MSG1"}]), "110109", "R", None, None),
    (event(events.VIEW_QUERY, user="vera", patient_ids=["P1"], objects=[{"type": "query", "id": 9, "keys": ""}]),
     "110110", "R", None, None),
    (event(events.VIEW_MPPS, user="vera", objects=[{"type": "mpps", "uid": "1.2.9"}]), "110111", "R", None, None),
    (event(events.AUDIT_EXPORTED, user="root", address="broker.example"), "110101", "R", None, None),
    (event(events.VIEW_AUDIT, user="ada", address="10.1.1.1", detail={"filters": {"patient": "P1"}},
           objects=[{"type": "audit_log", "uri": "https://broker.example/audit/?patient=P1"}]), "110101", "R", None, None),
    (event(events.AUDIT_PURGED, detail={"deleted": 2, "through_id": 7, "through_hash": "ab" * 32}), "110101", "D",
     None, None),
]


def test_every_kind_in_the_catalogue_has_a_case():
    assert {case[0]["kind"] for case in CASES} == set(events.CATALOGUE)


@pytest.mark.parametrize("values, event_id, action, type_code, actor_role", CASES, ids=[c[0]["kind"] for c in CASES])
def test_each_kind_maps_to_its_dicom_audit_message(values, event_id, action, type_code, actor_role):
    document = valid_message(to_xml(values, SOURCE))
    identification = document.find("EventIdentification")
    assert coded(document, "EventIdentification/EventID")[:2] == (event_id, "DCM")
    assert identification.get("EventActionCode") == action
    assert identification.get("EventOutcomeIndicator") == str(values["outcome"])
    assert identification.get("EventDateTime") == "2026-03-17T08:30:00.123456+00:00"
    type_element = identification.find("EventTypeCode")
    assert (type_element.get("csd-code") if type_element is not None else None) == type_code
    participants = document.findall("ActiveParticipant")
    actor = values["actor_user"] or values["actor_ae"]
    if actor:
        first = participants[0]
        assert first.get("UserID") == actor
        role = first.find("RoleIDCode")
        assert (role.get("csd-code") if role is not None else None) == actor_role
    assert participants[-1].get("UserID") == "BROKER"  # the broker itself is always a participant
    assert [p.get("UserIsRequestor") for p in participants].count("true") == 1
    source = document.find("AuditSourceIdentification")
    assert (source.get("AuditSourceID"), source.get("AuditEnterpriseSiteID")) == ("BROKER", "RADIOLOGY")
    patients = [o.get("ParticipantObjectID") for o in document.findall("ParticipantObjectIdentification")
                if o.get("ParticipantObjectTypeCodeRole") == "1"]
    assert patients == values["patient_ids"]


def test_a_query_carries_its_keys_as_the_base64_query_and_a_study_its_sop_classes():
    query = valid_message(to_xml(CASES[7][0], SOURCE))
    [query_object] = [o for o in query.findall("ParticipantObjectIdentification")
                      if o.get("ParticipantObjectTypeCodeRole") == "24"]
    assert query_object.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.31"
    assert base64.b64decode(query_object.find("ParticipantObjectQuery").text) == b"PatientID=P*"  # no dataset: the keys
    study = valid_message(to_xml(CASES[11][0], SOURCE))
    sop_class = study.find("ParticipantObjectIdentification/ParticipantObjectDescription/SOPClass")
    assert (sop_class.get("UID"), sop_class.get("NumberOfInstances")) == ("1.2.840.10008.5.1.4.1.1.2", "3")
    assert study.find("ParticipantObjectIdentification/ParticipantObjectDescription/Accession").get("Number") == "ACC1"


def test_a_configuration_change_carries_before_and_after():
    document = valid_message(to_xml(CASES[18][0], SOURCE))
    details = {d.get("type"): json.loads(base64.b64decode(d.get("value")))
               for d in document.iter("ParticipantObjectDetail")}
    assert details == {"before": {"port": 104}, "after": {"port": 11112}}


def test_reading_the_audit_page_names_the_audit_log_as_a_security_resource():
    [case] = [c for c in CASES if c[0]["kind"] == events.VIEW_AUDIT]
    [log] = valid_message(to_xml(case[0], SOURCE)).findall("ParticipantObjectIdentification")
    assert (log.get("ParticipantObjectID"), log.get("ParticipantObjectTypeCode"),
            log.get("ParticipantObjectTypeCodeRole")) == ("https://broker.example/audit/?patient=P1", "2", "13")
    assert coded(log, "ParticipantObjectIDTypeCode") == ("12", "RFC-3881", "URI")
    assert log.findtext("ParticipantObjectName") == "Security Audit Log"


@pytest.mark.parametrize("address, expected", [
    ("10.0.0.2:40000", ("10.0.0.2", "2")), ("10.0.0.2", ("10.0.0.2", "2")), ("[::1]:104", ("::1", "2")),
    ("::1", ("::1", "2")), ("broker.example", ("broker.example", "1")), ("replay", ("replay", "1")),
])
def test_network_access_points(address, expected):
    assert network_access_point(address) == expected


@pytest.mark.django_db
def test_audit_export_writes_each_event_of_the_range_as_a_valid_message_and_records_the_export(tmp_path):
    for name in ("anna", "otto"):
        trail.record(events.LOGIN, user=name, address="10.1.1.1")
    output = tmp_path / "audit.xml"
    call_command("audit", "export", "--since", "2000-01-01", "--format", "dicom-xml", "--output", str(output))
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # the two log-ins and the export itself, recorded as Audit Log Used
    documents = [valid_message(line) for line in lines]
    assert [d.find("ActiveParticipant").get("UserID") for d in documents[:2]] == ["anna", "otto"]
    assert coded(documents[2], "EventIdentification/EventID")[0] == "110101"
    out = io.StringIO()
    call_command("audit", "export", "--until", "2000-01-01", "--format", "json", stdout=out)
    assert out.getvalue() == ""
    out = io.StringIO()
    call_command("audit", "export", "--format", "json", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["kind"] for r in rows] == [events.LOGIN, events.LOGIN, events.AUDIT_EXPORTED, events.AUDIT_EXPORTED,
                                         events.AUDIT_EXPORTED]
    assert rows[1]["previous_hash"] == rows[0]["hash"]
    assert AuditEvent.objects.count() == 5 and trail.verify().intact
